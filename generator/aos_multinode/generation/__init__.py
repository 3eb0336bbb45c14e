"""Generating the layer, kas and CI files: release -> plan -> render -> write."""
