"""Per-resource strategies (kube-apiserver's REST strategies): what is particular to a kind.

`Strategy` (api.py) is the seam the registry calls; `DefaultStrategy` keeps the generic
rules of built-in kinds, `CustomResourceDefinitionStrategy` and `CustomResourceStrategy`
extend it for CRDs and for the objects they serve.
"""

from kvstore.registry.strategies.api import Strategy
from kvstore.registry.strategies.crd import CustomResourceDefinitionStrategy
from kvstore.registry.strategies.custom_resource import CustomResourceStrategy
from kvstore.registry.strategies.default import DefaultStrategy

__all__ = ["CustomResourceDefinitionStrategy", "CustomResourceStrategy", "DefaultStrategy", "Strategy"]
