"""fastweights.torch: fla's functions as torch custom ops. Outputs, final
states and every gradient against the float64 reference (torch_reference.py,
itself checked against reference.py), in both forms of every op, with grouped
value heads, cu_seqlens, V-first states, L2-normalised q and k, fla's gate
and beta options; half dtypes; the custom ops' own checks (opcheck); a
torch.compile(fullgraph=True) module; a training loop whose loss falls."""
import gc
import os

import numpy as np
import pytest

if os.environ.get("FW_REQUIRE_TORCH") == "1":  # scripts/test.sh: never skipped there
    import torch
else:
    torch = pytest.importorskip("torch")

import fastweights as fw  # noqa: E402
import fastweights.torch as ft  # noqa: E402
import reference  # noqa: E402
import torch_reference  # noqa: E402

B, T, H, HV, K, V = 2, 37, 1, 2, 8, 6
GATE = {"linear_attn": None, "simple_gla": "scalar", "delta_rule": None,
        "gated_delta_rule": "scalar", "gla": "channel", "kda": "channel"}
BETA = {"delta_rule", "gated_delta_rule", "kda"}


def draw(shape, lo=-1.0, hi=1.0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=gen) * (hi - lo) + lo


def inputs(name, seed=0, batch=B, steps=T):
    """q, k, v, g, beta, h0 for op `name` (None where it has no such input)."""
    q = draw((batch, steps, H, K), seed=seed)
    k = draw((batch, steps, H, K), -0.5, 0.5, seed=seed + 1)
    v = draw((batch, steps, HV, V), seed=seed + 2)
    g = {"scalar": draw((batch, steps, HV), -1, 0, seed=seed + 3),
         "channel": draw((batch, steps, HV, K), -1, 0, seed=seed + 3)}.get(GATE[name])
    beta = draw((batch, steps, HV), 0.1, 0.9, seed=seed + 4) if name in BETA else None
    h0 = draw((batch, HV, K, V), seed=seed + 5)
    return q, k, v, g, beta, h0


def call(name, form, q, k, v, g, beta, h0, **kw):
    """fastweights.torch's function for (name, form), fla's arguments."""
    common = dict(initial_state=h0, output_final_state=True, **kw)
    if name == "linear_attn":
        fn = ft.chunk_linear_attn if form == "chunk" else ft.fused_recurrent_linear_attn
        return fn(q, k, v, normalize=False, **common)
    if name == "simple_gla":
        fn = ft.chunk_simple_gla if form == "chunk" else ft.fused_recurrent_simple_gla
        return fn(q, k, v, g=g, **common)
    if name == "gla":
        return (ft.chunk_gla(q, k, v, g, **common) if form == "chunk"
                else ft.fused_recurrent_gla(q, k, v, gk=g, **common))
    if name == "delta_rule":
        fn = ft.chunk_delta_rule if form == "chunk" else ft.fused_recurrent_delta_rule
        return fn(q, k, v, beta, **common)
    if name == "gated_delta_rule":
        fn = ft.chunk_gated_delta_rule if form == "chunk" else ft.fused_recurrent_gated_delta_rule
        return fn(q, k, v, g=g, beta=beta, **common)
    fn = ft.chunk_kda if form == "chunk" else ft.fused_recurrent_kda
    return fn(q, k, v, g, beta, **common)


def relerr(a, b):
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def leaves(*xs):
    return [None if x is None else x.clone().requires_grad_() for x in xs]


def check_against_reference(name, form, l2=False, tol=1e-4, **kw):
    """Outputs, final state and gradients of every input against float64."""
    q, k, v, g, beta, h0 = inputs(name)
    do, dht = draw((B, T, HV, V), seed=11), draw((B, HV, K, V), seed=12)
    ours = leaves(q, k, v, g, beta, h0)
    extra = dict(use_qk_l2norm_in_kernel=True) if l2 else {}
    o, S = call(name, form, *ours, **extra, **kw)
    ((o * do).sum() + (S * dht).sum()).backward()
    ref = leaves(*(None if x is None else x.double() for x in (q, k, v, g, beta, h0)))
    ro, rS = torch_reference.scan(*ref[:3], g=ref[3], beta=ref[4], initial_state=ref[5], l2=l2)
    ((ro * do.double()).sum() + (rS * dht.double()).sum()).backward()
    assert o.dtype == v.dtype and S.dtype == torch.float32
    assert relerr(o, ro) < tol and relerr(S, rS) < tol
    for mine, theirs, what in zip(ours, ref, "q k v g beta h0".split()):
        if mine is None:
            continue
        assert mine.grad is not None and mine.grad.dtype == mine.dtype, what
        assert relerr(mine.grad, theirs.grad) < tol, what


def test_torch_reference_matches_the_numpy_reference():
    for name in GATE:
        q, k, v, g, beta, h0 = inputs(name)
        for l2 in (False, True):
            to, tS = torch_reference.scan(q, k, v, g=g, beta=beta, initial_state=h0, l2=l2)
            no, nS, _ = reference.scan(*(None if x is None else x.numpy()
                                         for x in (q, k, v)), g=None if g is None else g.numpy(),
                                       beta=None if beta is None else beta.numpy(),
                                       initial_state=h0.numpy(), l2=l2)
            assert np.abs(to.numpy() - no).max() < 1e-12 and np.abs(tS.numpy() - nS).max() < 1e-12


@pytest.mark.parametrize("form", ["chunk", "fused_recurrent"])
@pytest.mark.parametrize("name", list(GATE))
def test_outputs_and_gradients_match_float64(name, form):
    check_against_reference(name, form)


@pytest.mark.parametrize("name", ["delta_rule", "gated_delta_rule", "kda"])
def test_l2_normalised_q_and_k(name):
    check_against_reference(name, "chunk", l2=True)


@pytest.mark.parametrize("name", ["gated_delta_rule", "kda"])
def test_chunk_size_and_v_first_states_keep_the_gradients(name):
    """V-first states and a small chunk: the same outputs and gradients as the
    K-first call, transposed (and both against float64 above)."""
    q, k, v, g, beta, h0 = inputs(name)
    a = leaves(q, k, v, g, beta, h0)
    o1, S1 = call(name, "chunk", *a)
    (o1.square().sum() + S1.sum()).backward()
    b = leaves(q, k, v, g, beta, h0.transpose(-1, -2).contiguous())
    o2, S2 = call(name, "chunk", *b, state_v_first=True, chunk_size=16)
    (o2.square().sum() + S2.sum()).backward()
    assert relerr(o2, o1) < 1e-5 and relerr(S2.transpose(-1, -2), S1) < 1e-5
    for x, y in zip(a[:5], b[:5]):
        if x is not None:
            assert relerr(y.grad, x.grad) < 1e-5
    assert relerr(b[5].grad.transpose(-1, -2), a[5].grad) < 1e-5


def test_cu_seqlens_packs_the_batch():
    """Two sequences packed along T with cu_seqlens: the batched call's
    outputs, states and gradients."""
    name = "gated_delta_rule"
    q, k, v, g, beta, h0 = inputs(name)
    dense = leaves(q, k, v, g, beta, h0)
    o1, S1 = call(name, "chunk", *dense)
    (o1.square().sum() + S1.square().sum()).backward()
    flat = [x.reshape((1, B * T) + x.shape[2:]) for x in (q, k, v, g, beta)]
    packed = leaves(*flat, h0)
    cu = torch.tensor([0, T, 2 * T], dtype=torch.int64)
    o2, S2 = call(name, "chunk", *packed, cu_seqlens=cu)
    (o2.square().sum() + S2.square().sum()).backward()
    assert relerr(o2.reshape(o1.shape), o1) < 1e-5 and relerr(S2, S1) < 1e-5
    for x, y in zip(dense, packed):
        assert relerr(y.grad.reshape(x.shape), x.grad) < 1e-5


def test_fla_gate_and_beta_options_are_differentiable():
    """use_gate_in_kernel, use_beta_sigmoid_in_kernel: the same as computing
    the gate and beta with torch first, gradients included."""
    q, k, v, _, _, h0 = inputs("kda")
    raw = draw((B, T, HV, K), -3, 3, seed=20)
    A_log, dt_bias = draw((HV,), -1, 1, seed=21), draw((HV * K,), -1, 1, seed=22)
    b = draw((B, T, HV), -2, 2, seed=23)
    x = leaves(raw, A_log, dt_bias, b)
    o1, _ = ft.chunk_kda(q, k, v, x[0], x[3], initial_state=h0, use_gate_in_kernel=True,
                         A_log=x[1], dt_bias=x[2], use_beta_sigmoid_in_kernel=True)
    o1.square().sum().backward()
    y = leaves(raw, A_log, dt_bias, b)
    g = -y[1].exp()[:, None] * torch.nn.functional.softplus(y[0] + y[2].reshape(HV, K))
    o2, _ = ft.chunk_kda(q, k, v, g, y[3].sigmoid(), initial_state=h0)
    o2.square().sum().backward()
    assert relerr(o1, o2) < 1e-6
    for a, b_ in zip(x, y):
        assert relerr(a.grad, b_.grad) < 1e-5


def test_g_gamma_and_beta_none():
    """chunk_simple_gla's constant gate g_gamma [HV] gets the summed gradient;
    beta=None means ones and has no gradient to give."""
    q, k, v, _, _, h0 = inputs("simple_gla")
    gamma = draw((HV,), -1, 0, seed=30).requires_grad_()
    o, _ = ft.chunk_simple_gla(q, k, v, g_gamma=gamma, initial_state=h0)
    o.sum().backward()
    full = gamma.detach().expand(B, T, HV).clone().requires_grad_()
    o2, _ = ft.chunk_simple_gla(q, k, v, g=full, initial_state=h0)
    o2.sum().backward()
    assert relerr(gamma.grad, full.grad.sum((0, 1))) < 1e-5
    a, b = leaves(q, k, v), leaves(q, k, v)
    o3, _ = ft.chunk_delta_rule(*a, None, initial_state=h0)
    o3.square().sum().backward()
    o4, _ = ft.chunk_delta_rule(*b, torch.ones(B, T, HV), initial_state=h0)
    o4.square().sum().backward()
    assert torch.equal(o3, o4)
    for x, y in zip(a, b):
        assert torch.equal(x.grad, y.grad)
    # beta None with fla's beta options: those applied to ones
    g = draw((B, T, HV), -1, 0, seed=31)
    o5, _ = ft.chunk_gated_delta_rule(q, k, v, g, None, use_beta_sigmoid_in_kernel=True,
                                      allow_neg_eigval=True)
    o6, _ = ft.chunk_gated_delta_rule(q, k, v, g, 2 * torch.ones(B, T, HV).sigmoid())
    assert torch.equal(o5, o6)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "f16"])
def test_half_inputs_keep_their_dtype(dtype):
    """Half q, k, v, g, beta: o and every gradient in that dtype, near the
    float32 call (the inputs' own rounding is the difference)."""
    q, k, v, g, beta, h0 = inputs("gated_delta_rule")
    half = leaves(*(x.to(dtype) for x in (q, k, v, g, beta)), h0)
    o, S = call("gated_delta_rule", "chunk", *half)
    (o.float().square().sum() + S.sum()).backward()
    full = leaves(*(x.to(dtype).float() for x in (q, k, v, g, beta)), h0)
    o32, S32 = call("gated_delta_rule", "chunk", *full)
    (o32.square().sum() + S32.sum()).backward()
    assert o.dtype == dtype and S.dtype == torch.float32
    assert relerr(o, o32) < 1e-2 and relerr(S, S32) < 1e-5
    for x, y in zip(half, full):
        assert x.grad.dtype == x.dtype
        assert relerr(x.grad, y.grad) < 1e-2


def test_views_with_contiguous_rows_are_not_copied():
    """[B, H, T, D] tensors transposed to fla's [B, T, H, D] reach the kernels
    as they are: numpy's allocations (tracemalloc sees them) stay far below
    one input's size in the forward, and at the three gradients' in the
    backward, bf16 too."""
    import tracemalloc
    for dtype in (torch.float32, torch.bfloat16):
        q, k, v = (torch.randn(1, 4, 2048, 64, dtype=dtype).transpose(1, 2).requires_grad_()
                   for _ in range(3))
        beta, weight = torch.rand(1, 2048, 4), torch.randn(1, 2048, 4, 64)
        size = q.numel() * q.element_size()
        tracemalloc.start()
        o, _ = ft.chunk_delta_rule(q, k, v, beta)
        forward = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        (o * weight).sum().backward()  # do: a new contiguous tensor
        backward = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert forward < size // 4 and backward < 3 * size + size // 4, (dtype, forward, backward)


def test_strided_inputs_are_read_without_a_copy():
    """q, k, v as views of one fused projection (the layers' layout) give the
    results of contiguous copies."""
    qkv = draw((B, T, H * K * 2 + HV * V), seed=40)
    q = qkv[..., :H * K].unflatten(-1, (H, K))
    k = qkv[..., H * K:2 * H * K].unflatten(-1, (H, K))
    v = qkv[..., 2 * H * K:].unflatten(-1, (HV, V))
    assert not q.is_contiguous()
    o1, _ = ft.chunk_delta_rule(q, k * 0.5, v)
    o2, _ = ft.chunk_delta_rule(q.contiguous(), (k * 0.5).contiguous(), v.contiguous())
    assert torch.equal(o1, o2)


def same_bits_saving_states(step):
    """step(save) runs a forward and backward and returns its tensors: the
    same bits whether the forward keeps its chunk states or not."""
    for a, b in zip(step(False), step(True)):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", list(GATE))
def test_saved_chunk_states_give_the_same_gradients(name):
    """save_chunk_states: the backward reads the forward's chunk states, bit
    for bit the gradients of the call that recomputes them; with V-first
    states, an L2 norm, a short last chunk, packed sequences (S from their
    lengths, a size torch.compile learns at run time) and normalize too."""
    q, k, v, g, beta, h0 = inputs(name)
    do, dht = draw((B, T, HV, V), seed=11), draw((B, HV, K, V), seed=12)
    extra = [dict()]
    if name in BETA:
        extra.append(dict(use_qk_l2norm_in_kernel=True, chunk_size=16))
    if name != "linear_attn":
        extra.append(dict(state_v_first=True))
    for kw in extra:
        v_first = kw.get("state_v_first", False)

        def step(save):
            xs = leaves(q, k, v, g, beta, h0.transpose(-1, -2).contiguous() if v_first else h0)
            o, S = call(name, "chunk", *xs, save_chunk_states=save, **kw)
            ((o * do).sum() + (S * (dht.transpose(-1, -2) if v_first else dht)).sum()).backward()
            return [o, S] + [x.grad for x in xs if x is not None]
        same_bits_saving_states(step)

    def packed(save):
        xs = leaves(*(None if x is None else x[:1] for x in (q, k, v, g, beta)))
        cu = torch.tensor([0, 9, 37], dtype=torch.int32)
        o, _ = call(name, "chunk", *xs, None, cu_seqlens=cu, save_chunk_states=save,
                    chunk_size=16)
        (o * do[:1]).sum().backward()
        return [o] + [x.grad for x in xs if x is not None]
    same_bits_saving_states(packed)

    def normalized(save):
        xs = leaves(q, k, v)
        o, _ = ft.chunk_linear_attn(*xs, save_chunk_states=save)
        (o * do).sum().backward()
        return [o] + [x.grad for x in xs]
    same_bits_saving_states(normalized)

    def final_state_alone(save):  # o's gradient never formed: zeros go in
        xs = leaves(q, k, v, g, beta, h0)
        _, S = call(name, "chunk", *xs, save_chunk_states=save)
        (S * dht).sum().backward()
        assert not xs[0].grad.any()
        return [x.grad for x in xs if x is not None]
    same_bits_saving_states(final_state_alone)


def test_kept_states_stay_until_their_backward():
    """Two layers each keep their chunk states until the backward: a buffer
    handed out again too early (as one tied to a Python tensor object had
    been) gives the second layer's states to the first's backward."""
    def step(save):
        xs = leaves(*inputs("kda")[:5])
        o1, _ = ft.chunk_kda(*xs, save_chunk_states=save)
        gc.collect()
        q2 = (o1 * 0.5).reshape(B, T, H, HV * V)[..., :K].contiguous()
        o2, _ = ft.chunk_kda(q2, *xs[1:], save_chunk_states=save)
        gc.collect()
        (o2.square().sum() + o1.sum()).backward()
        return [o2] + [x.grad for x in xs]
    from fastweights._torch_ops import _KEPT
    ft.empty_cache()
    for _ in range(2):  # the second time reuses the first's two buffers
        same_bits_saving_states(step)
    assert len(_KEPT._free) == 2
    ft.empty_cache()
    assert not _KEPT._free


def test_chunk_states_are_kept_only_when_a_gradient_is_wanted():
    """The autograd graph holds [N, S, HV, K, V] chunk states with
    save_chunk_states and a gradient to take (S: the longest sequence's
    chunks); none under no_grad or without the keyword."""
    q, k, v, g, beta, h0 = inputs("kda")
    chunks = -(-T // fw.chunk_size("kda", K))

    def kept_states(xs, **kw):
        saved = []

        def pack(x):
            saved.append(tuple(x.shape))
            return x
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
            o, _ = ft.chunk_kda(*xs, **kw)
        if o.requires_grad:
            o.sum().backward()
        return [shape for shape in saved if len(shape) == 5]
    assert kept_states(leaves(q, k, v, g, beta), save_chunk_states=True) == [
        (B, chunks, HV, K, V)]
    assert kept_states((q, k, v, g, beta), save_chunk_states=True) == []
    assert kept_states(leaves(q, k, v, g, beta)) == []
    cu = torch.tensor([0, 9, 37], dtype=torch.int32)
    packed = leaves(*(x[:1] for x in (q, k, v, g, beta)))
    assert kept_states(packed, cu_seqlens=cu, save_chunk_states=True, chunk_size=16) == [
        (2, 2, HV, K, V)]
    with pytest.raises(fw.FastweightsError, match="cu_seqlens"):  # the scan's own check
        ft.chunk_kda(*packed, cu_seqlens=torch.tensor([0, 40], dtype=torch.int32),
                     save_chunk_states=True)


@pytest.mark.parametrize("fn", ["chunk_gated_delta_rule", "fused_recurrent_kda",
                                "chunk_linear_attn"])
def test_opcheck(fn):
    """torch.library.opcheck: schema, fake tensors, autograd registration and
    AOT dispatch of the custom op."""
    name = fn.split("_", 1)[1] if fn.startswith("chunk_") else fn.split("_", 2)[2]
    q, k, v, g, beta, h0 = leaves(*inputs(name, batch=1, steps=9))
    flags = 0x1 if name == "linear_attn" else 0
    args = (q, k, v, g, beta, 0.3, h0, None, True, None, flags, 0, 1e-6)
    torch.library.opcheck(getattr(torch.ops.fastweights, fn), args)
    torch.library.opcheck(getattr(torch.ops.fastweights, fn), args + (True,))
    if fn.startswith("chunk_"):  # packed, keeping states of a size known at run time
        cu = torch.tensor([0, 4, 9], dtype=torch.int32)
        packed = args[:6] + (None, None, True, cu, flags, 4, 1e-6, True)
        torch.library.opcheck(getattr(torch.ops.fastweights, fn), packed)


def test_feature_maps_and_their_gradients():
    x = draw((3, 5, 8), seed=50).requires_grad_()
    for kind, kw in (("elu_plus_one", {}), ("relu", {}), ("dpfp", {"nu": 2}),
                     ("favor_plus", {"m": 16}), ("sum_norm", {}), ("l2_norm", {})):
        x.grad = None
        y = ft.feature_map(x, kind, **kw)
        dy = draw(y.shape, seed=51)
        (y * dy).sum().backward()
        want = fw.feature_map(x.detach().numpy(), kind, **kw)
        dx = fw.feature_map_backward(x.detach().numpy(), dy.numpy(), kind, **kw)
        assert np.array_equal(y.detach().numpy(), want), kind
        assert np.array_equal(x.grad.numpy(), dx), kind
    x.grad = None
    (ft.feature_map(x, "elu_plus_one") * dy[..., :8]).sum().backward()
    x64 = x.detach().double().requires_grad_()
    ((torch.nn.functional.elu(x64) + 1) * dy[..., :8].double()).sum().backward()
    assert relerr(x.grad, x64.grad) < 1e-6


class _Mixer(torch.nn.Module):
    """A gated delta net mixer in miniature: projections, the scan, a readout."""

    def __init__(self, d=16, heads=2, dk=8, save_chunk_states=False):
        super().__init__()
        self.heads, self.dk, self.save = heads, dk, save_chunk_states
        self.qkv = torch.nn.Linear(d, 3 * heads * dk)
        self.gb = torch.nn.Linear(d, 2 * heads)
        self.out = torch.nn.Linear(heads * dk, d)

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = self.qkv(x).unflatten(-1, (3, self.heads, self.dk)).unbind(2)
        a, beta = self.gb(x).unflatten(-1, (2, self.heads)).unbind(2)
        g = -torch.nn.functional.softplus(a)
        o, _ = ft.chunk_gated_delta_rule(q, k, v, g, beta.sigmoid(),
                                         use_qk_l2norm_in_kernel=True,
                                         save_chunk_states=self.save)
        return self.out(o.reshape(b, t, -1))


@pytest.mark.parametrize("save", [False, True])
def test_torch_compile_fullgraph(save):
    torch.manual_seed(0)
    model = _Mixer(save_chunk_states=save)
    x = torch.randn(2, 24, 16)
    compiled = torch.compile(model, fullgraph=True)
    want = model(x)
    got = compiled(x)
    assert relerr(got, want) < 1e-5
    got.square().sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    want.square().sum().backward()
    for a, b in zip(grads, model.parameters()):
        assert relerr(a, b.grad) < 1e-4


def test_a_training_loop_lowers_the_loss():
    """Fit the mixer to copy its input's previous token (a recall task the
    scan's state has to carry)."""
    torch.manual_seed(0)
    model = _Mixer()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.randn(8, 32, 16)
    target = torch.cat([torch.zeros(8, 1, 16), x[:, :-1]], dim=1)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = (model(x) - target).square().mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses[::10]
