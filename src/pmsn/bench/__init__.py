"""Measurements: speed and memory (``pmsn bench speed``) and energy (``pmsn bench energy``)."""
