"""Data: dataset readers and writers (DAVIS, YouTube-VOS, frame folders), palette PNGs."""
