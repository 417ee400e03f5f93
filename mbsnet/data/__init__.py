"""Audio I/O and the data the model trains and is tested on: noise, eSpeak speech, corpora, datasets."""
