"""Chunk to frames: the FFmpeg (CPU) decoder and the frame types it produces."""
