"""Reconcilers in the style of kube-controller-manager (planned). Not built yet."""
