"""AURA-Repro: the reproduction report's code, in layers that import only the layers below them (pyproject's
import-linter contract): base < data < measures < training < scoring < grids < evidence < reporting < running < cli."""
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent   # its templates/
PROJECT_DIR = PACKAGE_DIR.parent                # a source checkout's notebooks/ and params/
