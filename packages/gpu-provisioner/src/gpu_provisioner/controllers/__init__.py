"""The Karpenter lifecycle for claims this provisioner manages, on controller-kit.

``lifecycle`` (one controller per claim kind, ``nodeclaim.lifecycle`` / ``machine.lifecycle``):
finalizer, launch, registration, initialization, Ready, timeouts, and termination (drain, delete
the instance, drop finalizers). ``garbagecollection``: instances without claims and claims without
instances. They know only the CloudProvider seam, never a cloud SDK.
"""
