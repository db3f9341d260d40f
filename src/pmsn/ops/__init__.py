"""Numerical kernels of the neurons: pure functions (linear system, FFT convolution, soma)."""
