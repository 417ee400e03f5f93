"""Small data files shipped with the library."""
from pathlib import Path

ASSETS = Path(__file__).parent
ARCTIC_WAVS = (ASSETS / "arctic" / "arctic_a0007.wav", ASSETS / "arctic" / "arctic_a0009.wav")
