"""Detection stage: the MobileNetV2 backbone, ImageNet classes and frame tags.

Torch tensors stay inside this package; what leaves it is NumPy or plain Python.
"""
