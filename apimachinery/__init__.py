"""The object model of the resource layer (k8s.io/apimachinery's role). Not built yet."""
