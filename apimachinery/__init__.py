"""The pure object model of the resource layer (k8s.io/apimachinery's role): no I/O.

schema (group/version/kind/resource, the REST mapper) · meta · labels · fields ·
validation · patch · errors (`Status`) · kinds/ (per built-in kind) · client and watch
(the contracts every backend keeps, which informers and controllers program against).
"""
