"""Pixels: ``postprocess`` (encode, resize, clip with Pillow, off the event loop), ``images``
(guarded decoding, PNG encoding), ``pixelmatch`` (the diff, vectorised in NumPy)."""
