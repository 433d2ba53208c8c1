"""Azure: the one CloudProvider implementation, and the only package that imports the Azure SDK.

One claim becomes one AKS agent pool of count 1. Pure parts (``naming``, ``agentpools``,
``providerids``, ``errors``) hold every rule; ``arm`` is the narrow adapter over the async SDK
clients; ``provider`` implements the seam on top of both.
"""
