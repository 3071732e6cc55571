"""Golden outputs from Hugging Face transformers, for icl-lab's family tests.

Run on a machine that has torch and transformers (none of the project's CI machines do):

    python3 scripts/hf-golden.py OUT_DIR [EMBEDDED_MODEL_DIR ...]

For each family it builds a tiny randomly initialised model (weights perturbed so that biases and norm weights
matter), saves it in the Hugging Face folder format, and records its logits, hidden states and attention
probabilities on a fixed batch (the second row right-padded) in golden.safetensors. For each embedded model folder
given (e.g. content/models/emb-s) it records transformers' logits and tokenizer ids for fixed texts, so the
project's own forward and tokenizer can be checked against transformers itself.
"""

import json
import os
import sys
import traceback

import torch
import transformers
from safetensors.torch import save_file

torch.manual_seed(2023)
VOCAB = 96
T = 12
PAD = 3  # padded positions in the second row


def tiny_configs():
    c = transformers
    common = dict(vocab_size=VOCAB, bos_token_id=1, eos_token_id=2)
    return {
        "gpt2": c.GPT2Config(n_positions=32, n_embd=32, n_layer=2, n_head=4, activation_function="gelu_new",
                             resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **common),
        "llama": c.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                               num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=False, **common),
        "qwen2": c.Qwen2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                               num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=True, **common),
        "mistral": c.MistralConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=2, max_position_embeddings=64, sliding_window=None,
                                   tie_word_embeddings=False, **common),
        "mistral-window": c.MistralConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                                          sliding_window=5, tie_word_embeddings=False, **common),
        "gpt-neox": c.GPTNeoXConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                                    rotary_pct=0.25, use_parallel_residual=True, max_position_embeddings=64,
                                    hidden_act="gelu", tie_word_embeddings=False, **common),
        "gpt-neox-sequential": c.GPTNeoXConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                               intermediate_size=64, rotary_pct=0.5, use_parallel_residual=False,
                                               max_position_embeddings=64, hidden_act="gelu",
                                               tie_word_embeddings=False, **common),
        "gpt-neo": c.GPTNeoConfig(max_position_embeddings=64, hidden_size=32, num_layers=2,
                                  attention_types=[[["global", "local"], 1]], num_heads=4, window_size=5,
                                  intermediate_size=64, activation_function="gelu_new", resid_dropout=0.0,
                                  embed_dropout=0.0, attention_dropout=0.0, **common),
        "xglm": c.XGLMConfig(max_position_embeddings=64, d_model=32, ffn_dim=64, num_layers=2, attention_heads=4,
                             activation_function="gelu", scale_embedding=True, dropout=0.0, attention_dropout=0.0,
                             activation_dropout=0.0, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                             decoder_start_token_id=2, vocab_size=VOCAB),
    }


def eager(model):
    try:
        model.set_attn_implementation("eager")
    except Exception:
        model.config._attn_implementation = "eager"
    return model


def record(model, input_ids, attention_mask):
    with torch.no_grad():
        out = model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True,
                    output_attentions=True)
    tensors = {"input_ids": input_ids.to(torch.int64), "attention_mask": attention_mask.to(torch.int64),
               "logits": out.logits.float()}
    for i, h in enumerate(out.hidden_states):
        tensors[f"hidden.{i}"] = h.float()
    for i, a in enumerate(out.attentions or []):
        if a is not None:
            tensors[f"attn.{i}"] = a.float()
    return {k: v.contiguous() for k, v in tensors.items()}


def tiny_family(name, config, out_dir):
    model = eager(transformers.AutoModelForCausalLM.from_config(config)).float().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    folder = os.path.join(out_dir, name)
    model.save_pretrained(folder, safe_serialization=True)
    ids = torch.randint(4, VOCAB, (2, T))
    mask = torch.ones(2, T, dtype=torch.int64)
    mask[1, T - PAD:] = 0
    ids[1, T - PAD:] = config.pad_token_id if getattr(config, "pad_token_id", None) is not None else 0
    save_file(record(model, ids, mask), os.path.join(folder, "golden.safetensors"),
              metadata={"transformers": transformers.__version__, "torch": torch.__version__})


TEXTS = [
    "Sentence: bami Label: Positive",
    "Review: kodu lesi Sentiment:",
    "Classify the news articles into the categories of World, Sports, Business, and Technology. Article: x Answer:",
    "hello world, Ünïcode ok?\n",
]


def embedded(folder, out_dir):
    name = os.path.basename(os.path.normpath(folder))
    model = eager(transformers.AutoModelForCausalLM.from_pretrained(folder)).float().eval()
    tok = transformers.PreTrainedTokenizerFast(tokenizer_file=os.path.join(folder, "tokenizer.json"))
    encoded = [tok.encode(t, add_special_tokens=False) for t in TEXTS]
    n = model.config.vocab_size
    ids = torch.randint(0, n, (2, 20))
    mask = torch.ones(2, 20, dtype=torch.int64)
    mask[1, 15:] = 0
    dest = os.path.join(out_dir, "embedded-" + name)
    os.makedirs(dest, exist_ok=True)
    save_file(record(model, ids, mask), os.path.join(dest, "golden.safetensors"),
              metadata={"transformers": transformers.__version__, "torch": torch.__version__})
    with open(os.path.join(dest, "tokenizer-golden.json"), "w") as f:
        json.dump({"texts": TEXTS, "ids": encoded}, f)


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    failures = 0
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    for name, config in tiny_configs().items():
        try:
            tiny_family(name, config, out_dir)
            print(f"ok {name}")
        except Exception:
            failures += 1
            print(f"FAILED {name}\n{traceback.format_exc()}")
    for folder in sys.argv[2:]:
        try:
            embedded(folder, out_dir)
            print(f"ok embedded {folder}")
        except Exception:
            failures += 1
            print(f"FAILED embedded {folder}\n{traceback.format_exc()}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
