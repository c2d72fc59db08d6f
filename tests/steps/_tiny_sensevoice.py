"""A tiny SenseVoiceSmall model folder (random weights) laid out like the real one from ModelScope.

It exercises FunASR's real loading and inference path (configuration.json → config.yaml, BPE
tokenizer, CMVN frontend, ``model.pt``) in a second, without the 900 MB download. Its text is
noise; the recognition quality of the bundled Whisper model is tested separately.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["make_tiny_sensevoice"]

_TAGS = [
    "<|zh|>",
    "<|en|>",
    "<|yue|>",
    "<|ja|>",
    "<|ko|>",
    "<|nospeech|>",
    "<|NEUTRAL|>",
    "<|HAPPY|>",
    "<|Speech|>",
    "<|BGM|>",
    "<|woitn|>",
    "<|withitn|>",
]
_VOCAB = 40
_FEATS = 80 * 7  # 80 mel bins, low frame rate stacking of 7

_CONFIG = f"""\
model: SenseVoiceSmall
model_conf:
  lsm_weight: 0.1
  length_normalized_loss: true
  sos: 1
  eos: 2
  ignore_id: -1
encoder: SenseVoiceEncoderSmall
encoder_conf:
  output_size: 32
  attention_heads: 2
  linear_units: 64
  num_blocks: 2
  tp_blocks: 1
  dropout_rate: 0.0
  positional_dropout_rate: 0.0
  attention_dropout_rate: 0.0
  input_layer: pe
  pos_enc_class: SinusoidalPositionEncoder
  normalize_before: true
  kernel_size: 11
  sanm_shfit: 0
  selfattention_layer_type: sanm
tokenizer: SentencepiecesTokenizer
tokenizer_conf:
  bpemodel: null
  unk_symbol: <unk>
  split_with_space: true
frontend: WavFrontend
frontend_conf:
  fs: 16000
  window: hamming
  n_mels: 80
  frame_length: 25
  frame_shift: 10
  lfr_m: 7
  lfr_n: 6
  cmvn_file: null
input_size: {_FEATS}
vocab_size: {_VOCAB}
"""


def _cmvn() -> str:
    zeros, ones = " ".join(["0"] * _FEATS), " ".join(["1"] * _FEATS)
    return (
        f"<Nnet>\n<Splice> {_FEATS} {_FEATS}\n[ 0 ]\n"
        f"<AddShift> {_FEATS} {_FEATS}\n<LearnRateCoef> 0 [ {zeros} ]\n"
        f"<Rescale> {_FEATS} {_FEATS}\n<LearnRateCoef> 0 [ {ones} ]\n</Nnet>\n"
    )


def make_tiny_sensevoice(folder: Path) -> Path:
    """Write the model files into ``folder`` (named like the real model) and return it."""
    import sentencepiece as spm
    import torch
    import yaml
    from funasr.models.sense_voice.model import SenseVoiceSmall

    folder.mkdir(parents=True, exist_ok=True)
    text = ["the quick brown fox jumps over the lazy dog", "video insight turns hours into minutes"] * 20
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(text),
        model_prefix=str(folder / "bpe"),
        vocab_size=_VOCAB,
        user_defined_symbols=_TAGS,
        model_type="unigram",
        bos_id=-1,
        eos_id=-1,
        unk_id=0,
        minloglevel=2,
    )
    (folder / "am.mvn").write_text(_cmvn())
    (folder / "config.yaml").write_text(_CONFIG)
    metas = {
        "init_param": "model.pt",
        "config": "config.yaml",
        "tokenizer_conf": {"bpemodel": "bpe.model"},
        "frontend_conf": {"cmvn_file": "am.mvn"},
    }
    (folder / "configuration.json").write_text(json.dumps({"framework": "pytorch", "file_path_metas": metas}))
    conf = yaml.safe_load(_CONFIG)
    torch.manual_seed(0)
    model = SenseVoiceSmall(
        encoder=conf["encoder"],
        encoder_conf=conf["encoder_conf"],
        input_size=_FEATS,
        vocab_size=_VOCAB,
        **conf["model_conf"],
    )
    torch.save(model.state_dict(), folder / "model.pt")
    return folder
