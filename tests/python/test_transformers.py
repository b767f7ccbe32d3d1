"""fastweights.torch.patch_transformers(): tiny random-weight Qwen3-Next,
Qwen3.5 and Kimi Linear models built from their configs (nothing
downloaded), run with transformers' PyTorch fallback and then on fastweights:
the same logits (float32: relative 1e-4; bfloat16: see below) and the same 16
greedily generated tokens, with the library's functions seen to run."""
import collections
import inspect
import os

import pytest

if os.environ.get("FW_REQUIRE_TORCH") == "1":  # scripts/test.sh: never skipped there
    import torch
    import transformers
else:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")

import fastweights.torch as ft  # noqa: E402

transformers.logging.set_verbosity_error()  # the fallback's "much slower" notice
SMALL = dict(vocab_size=256, hidden_size=64, intermediate_size=64, num_hidden_layers=4,
             num_attention_heads=2, layer_types=["linear_attention"] * 3 + ["full_attention"])


def qwen3_next():
    config = transformers.Qwen3NextConfig(
        **SMALL, num_key_value_heads=1, head_dim=32, linear_num_key_heads=2,
        linear_num_value_heads=4, linear_key_head_dim=16, linear_value_head_dim=16,
        moe_intermediate_size=32, shared_expert_intermediate_size=32, num_experts=4,
        num_experts_per_tok=2)
    return transformers.Qwen3NextForCausalLM(config)


def qwen3_5():
    config = transformers.Qwen3_5TextConfig(
        **SMALL, num_key_value_heads=1, head_dim=32, linear_num_key_heads=2,
        linear_num_value_heads=4, linear_key_head_dim=16, linear_value_head_dim=16)
    return transformers.Qwen3_5ForCausalLM(config)


def kimi_linear():
    config = transformers.KimiLinearConfig(
        **SMALL, num_key_value_heads=2, moe_intermediate_size=32, kv_lora_rank=16,
        q_lora_rank=None, qk_rope_head_dim=8, qk_nope_head_dim=16, v_head_dim=16, num_experts=4,
        num_experts_per_token=2, linear_num_heads=2, linear_head_dim=16,
        mlp_layer_types=["dense", "sparse", "sparse", "sparse"], pad_token_id=0, bos_token_id=1,
        eos_token_id=2)
    return transformers.KimiLinearForCausalLM(config)


MODELS = {"qwen3_next": qwen3_next, "qwen3_5": qwen3_5, "kimi_linear": kimi_linear}


@pytest.fixture
def calls(monkeypatch):
    """Counts the fastweights.torch functions the patched layers call; the
    patch is undone afterwards."""
    ft.unpatch_transformers()
    counts = collections.Counter()
    for name in ("chunk_gated_delta_rule", "fused_recurrent_gated_delta_rule", "chunk_kda",
                 "fused_recurrent_kda"):
        fn = getattr(ft, name)

        def counted(*args, _fn=fn, _name=name, **kwargs):
            counts[_name] += 1
            return _fn(*args, **kwargs)

        counted.__signature__ = inspect.signature(fn)
        monkeypatch.setattr(ft, name, counted)
    yield counts
    ft.unpatch_transformers()


def relerr(a, b):
    return float((a.float() - b.float()).abs().max() / b.float().abs().max())


@pytest.mark.parametrize("family", list(MODELS))
def test_logits_and_greedy_tokens_match_the_fallback(family, calls):
    torch.manual_seed(0)
    model = MODELS[family]().eval()
    ids = torch.randint(3, 256, (2, 40))
    with torch.no_grad():
        want = model(ids).logits
        want_tokens = model.generate(ids[:1], max_new_tokens=16, do_sample=False)
        patched = ft.patch_transformers()
        assert ft.patch_transformers() == patched  # idempotent
        got = model(ids).logits
        got_tokens = model.generate(ids[:1], max_new_tokens=16, do_sample=False)
    assert relerr(got, want) < 1e-4
    assert torch.equal(got_tokens, want_tokens)
    chunked, recurrent = (("chunk_kda", "fused_recurrent_kda") if family == "kimi_linear" else
                          ("chunk_gated_delta_rule", "fused_recurrent_gated_delta_rule"))
    # prefill: one chunked call per linear layer and forward; decode: recurrent
    assert calls[chunked] >= 3 * 2 and calls[recurrent] >= 3 * 15, dict(calls)


@pytest.mark.parametrize("family", list(MODELS))
def test_bfloat16_logits(family, calls):
    """bfloat16 models: both paths compute each scan in float32 from the same
    bfloat16 inputs and round its output once to bfloat16, so they differ by at
    most an ulp of bfloat16 (2^-8 relative) where a value sits near a rounding
    boundary, and the layers after carry that on. The bound, 2e-2, is about
    twice what the fallback itself loses against float32 here (6e-3 to 9e-3)."""
    torch.manual_seed(0)
    model = MODELS[family]().eval()
    ids = torch.randint(3, 256, (2, 40))
    with torch.no_grad():
        exact = model(ids).logits
        model = model.to(torch.bfloat16)
        want = model(ids).logits
        ft.patch_transformers()
        got = model(ids).logits
    assert got.dtype == torch.bfloat16
    assert relerr(got, want) < 2e-2
    assert relerr(got, exact) < 2 * relerr(want, exact) + 1e-3


@pytest.mark.parametrize("family", ["qwen3_next", "kimi_linear"])
def test_training_with_saved_chunk_states(family, calls):
    """patch_transformers(save_chunk_states=True): each chunked layer's graph
    holds its chunk states, and every parameter's gradient is bit for bit
    the one the layers' recomputing backward gives."""
    torch.manual_seed(0)
    model = MODELS[family]().train()
    ids = torch.randint(3, 256, (2, 40))
    grads = []
    for save in (False, True):
        ft.patch_transformers(save_chunk_states=save)
        model.zero_grad()
        states = []

        def pack(x):
            states.extend([tuple(x.shape)] if x.dim() == 5 else [])
            return x
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
            loss = model(ids, labels=ids).loss
        loss.backward()
        assert len(states) == (3 if save else 0), states
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    assert len(grads[0]) == len(grads[1])
    for a, b in zip(*grads):
        assert torch.equal(a, b)


def test_unpatch_restores_the_fallback(calls):
    module = transformers.models.qwen3_next.modeling_qwen3_next
    original = module.torch_chunk_gated_delta_rule
    ft.patch_transformers()
    assert module.torch_chunk_gated_delta_rule is not original
    ft.unpatch_transformers()
    assert module.torch_chunk_gated_delta_rule is original
