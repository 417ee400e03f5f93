"""Offline speech synthesis with eSpeak NG through ctypes (the `espeakng-loader` package).

The loader ships `libespeak-ng` and its voice data; this module is a minimal binding:
espeak_Initialize in AUDIO_OUTPUT_SYNCHRONOUS mode, a synth callback collecting 16-bit samples,
espeak_SetVoiceByName ("en-us+f2": language + voice variant), espeak_SetParameter for rate
(words per minute) and pitch (0-100), and espeak_Synth. eSpeak's native rate is 22,050 Hz;
`synthesize` resamples to the requested rate with mbsnet.data.audio.resample.

The library keeps global state, so calls are serialized by a lock. eSpeak NG adds random
variation (seeded with the time at initialization; `seed=` fixes it) and keeps internal state
from one utterance to the next that no API call resets: the same sequence of calls in a fresh
process gives the same audio, bit for bit. mbsnet.data.corpus therefore generates in a fresh process.
"""
from __future__ import annotations

import ctypes
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from mbsnet.data.audio import resample

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_RATE, _ESPEAK_PITCH, _ESPEAK_RANGE = 1, 3, 4
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.c_void_p)
_LOCK = threading.Lock()


class ESpeakError(RuntimeError):
    """eSpeak NG could not be loaded or refused a voice."""


class _ESpeak:
    """The loaded library, its native sample rate and the buffer the callback fills."""

    def __init__(self):
        try:
            import espeakng_loader
        except ImportError as exc:
            raise ESpeakError("speech synthesis needs the `espeakng-loader` package "
                              "(pip install espeakng-loader)") from exc
        self.data_path = Path(espeakng_loader.get_data_path())
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        self.sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0,
                                                 str(self.data_path).encode(), 0)
        if self.sample_rate <= 0:
            raise ESpeakError(f"espeak_Initialize failed (returned {self.sample_rate})")
        self.chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # keep a reference: C holds the pointer
        lib.espeak_SetSynthCallback(self._callback)
        self.lib = lib

    def _collect(self, samples, n, events):
        if n > 0:
            self.chunks.append(np.ctypeslib.as_array(samples, shape=(n,)).copy())
        return 0  # 0 = continue synthesis


@lru_cache(maxsize=1)
def _engine() -> _ESpeak:
    return _ESpeak()


def native_rate() -> int:
    """eSpeak NG's output sample rate (22,050 Hz)."""
    return _engine().sample_rate


def variants() -> list[str]:
    """Names of the voice variants in the data dir's voices/!v (e.g. "m3", "f2", "klatt")."""
    folder = _engine().data_path / "voices" / "!v"
    return sorted(p.name for p in folder.iterdir() if p.is_file() and " " not in p.name)


def synthesize(text: str, voice: str = "en", rate_wpm: int = 170, pitch: int = 50,
               pitch_range: int = 50, sample_rate: int = 16_000, seed: int | None = None) -> np.ndarray:
    """Speak `text` with `voice` ("lang" or "lang+variant") -> float32 waveform (s,) in [-1, 1].

    rate_wpm: speaking rate in words per minute (80-450); pitch, pitch_range: 0-100;
    seed: seeds eSpeak's random variation (see the module docstring for what it does not fix).
    """
    if not text.strip():
        raise ValueError("text: nothing to say (empty string)")
    if not 80 <= rate_wpm <= 450:
        raise ValueError(f"rate_wpm must be in [80, 450], got {rate_wpm}")
    for name, value in (("pitch", pitch), ("pitch_range", pitch_range)):
        if not 0 <= value <= 100:
            raise ValueError(f"{name} must be in [0, 100], got {value}")
    engine = _engine()
    with _LOCK:
        if engine.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"voice: eSpeak NG has no voice {voice!r}")
        engine.lib.espeak_SetParameter(_ESPEAK_RATE, int(rate_wpm), 0)
        engine.lib.espeak_SetParameter(_ESPEAK_PITCH, int(pitch), 0)
        engine.lib.espeak_SetParameter(_ESPEAK_RANGE, int(pitch_range), 0)
        if seed is not None:
            engine.lib.espeak_ng_SetRandSeed(int(seed) % 2**31)
        engine.chunks = []
        raw = text.encode("utf-8")
        err = engine.lib.espeak_Synth(raw, len(raw) + 1, 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8,
                                      None, None)
        chunks, engine.chunks = engine.chunks, []
    if err != 0 or not chunks:
        raise ESpeakError(f"espeak_Synth failed for voice {voice!r} (error {err})")
    audio = np.concatenate(chunks).astype(np.float32) / 32768.0
    return resample(audio, engine.sample_rate, sample_rate)
