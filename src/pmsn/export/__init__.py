"""Ways out of pmsn: ONNX for streaming inference (``pmsn.export.onnx``); NIR lives in ``pmsn.nir``."""
