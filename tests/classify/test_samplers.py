"""Epoch samplers: the class frequencies each strategy promises, CASED, soft labels, resume."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lesiongan.classify.samplers import (
    CasedSampler,
    EpochSampler,
    Pool,
    SamplerParams,
    build_pool,
    build_sampler,
    class_weights,
    compute_cased_p,
    parse_strategy,
    score_confidence,
    soft_targets,
)

REAL = (40, 12, 8)  # real images per class: class 0 is the majority
SYN = (20, 50, 10)  # synthetic images per class


def make_pool(real: tuple[int, ...] = REAL, syn: tuple[int, ...] = SYN, seed: int = 0) -> Pool:
    rng = np.random.default_rng(seed)
    real_labels = np.repeat(np.arange(len(real)), real)
    syn_labels = np.repeat(np.arange(len(syn)), syn)
    return build_pool(
        real_labels,
        len(real),
        syn_labels,
        synthetic_scores=rng.normal(-1.0, 1.0, syn_labels.size),
        real_scores=rng.normal(0.0, 1.0, real_labels.size),
    )


def class_counts(pool: Pool, idx: np.ndarray, synthetic: bool | None = None) -> np.ndarray:
    if synthetic is not None:
        idx = idx[pool.is_synthetic[idx] == synthetic]
    return np.bincount(pool.labels[idx], minlength=pool.n_classes)


def uses(idx: np.ndarray) -> dict[int, int]:
    values, counts = np.unique(idx, return_counts=True)
    return dict(zip(values.tolist(), counts.tolist()))


# --- parse_strategy and class weights ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("none", ("none",)),
        ("class-weight", ("class-weight",)),
        ("synthetic-balance+class-weight", ("synthetic-balance", "class-weight")),
        ("class-weight + synthetic-balance", ("synthetic-balance", "class-weight")),
        ("soft-label+cased", ("cased", "soft-label")),
        (
            "synthetic-ratio+soft-label+class-weight",
            ("synthetic-ratio", "class-weight", "soft-label"),
        ),
        ("synthetic-only+class-weight", ("synthetic-only", "class-weight")),
        ("synthetic-pretrain", ("synthetic-pretrain",)),
        ("soft-label+synthetic-pretrain", ("synthetic-pretrain", "soft-label")),
    ],
)
def test_parse_strategy_accepts_composable_combos(text: str, parsed: tuple[str, ...]) -> None:
    assert parse_strategy(text) == parsed


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("smote", "unknown strategy 'smote'"),
        ("synthetic-balance+", "unknown strategy ''"),
        ("oversample+synthetic-balance", "oversample and synthetic-balance cannot be combined"),
        ("none+class-weight", "'none' is the plain baseline"),
        ("oversample+class-weight", "class-weight cannot be combined with oversample"),
        ("cased+class-weight", "class-weight cannot be combined with cased"),
        ("soft-label", "soft-label needs one of"),
        ("oversample+soft-label", "soft-label needs one of"),
        ("cased+cased", "names a part twice"),
        ("synthetic-pretrain+class-weight", "class-weight cannot be combined with synthetic-pre"),
        ("synthetic-pretrain+synthetic-balance", "cannot be combined: each sets the epoch"),
    ],
)
def test_parse_strategy_rejects_bad_parts(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_strategy(text)


def test_class_weights_inverse_frequency_mean_one() -> None:
    labels = np.repeat([0, 1, 3], [30, 10, 5])
    w = class_weights(labels, 4)
    assert w[2] == 0.0  # absent class
    np.testing.assert_allclose(w[labels].mean(), 1.0)
    np.testing.assert_allclose(w[0] * 30, w[1] * 10)
    np.testing.assert_allclose(w[1] * 10, w[3] * 5)


# --- class frequencies over an epoch ----------------------------------------------------------


def test_none_is_every_real_image_once() -> None:
    pool = make_pool()
    idx = build_sampler(pool, "none").epoch_indices(0)
    assert sorted(idx.tolist()) == pool.indices(synthetic=False).tolist()
    assert class_counts(pool, idx).tolist() == list(REAL)


def test_oversample_balances_with_real_images_spread_evenly() -> None:
    pool = make_pool()
    idx = build_sampler(pool, "oversample").epoch_indices(3)
    assert not pool.is_synthetic[idx].any()
    assert class_counts(pool, idx).tolist() == [40, 40, 40]
    u = uses(idx)
    for c, n in enumerate(REAL):
        counts = [u.get(i, 0) for i in pool.indices(c, synthetic=False)]
        assert min(counts) == 40 // n and max(counts) == -(-40 // n)


def test_synthetic_balance_tops_up_each_class_with_its_own_synthetic_images() -> None:
    pool = make_pool()
    idx = build_sampler(pool, "synthetic-balance").epoch_indices(1)
    assert class_counts(pool, idx).tolist() == [40, 40, 40]
    assert class_counts(pool, idx, synthetic=False).tolist() == list(REAL)
    assert class_counts(pool, idx, synthetic=True).tolist() == [0, 28, 32]
    u = uses(idx)
    assert all(u[i] == 1 for i in pool.indices(1, synthetic=True) if i in u)  # 28 of 50: distinct
    class2 = [u[i] for i in pool.indices(2, synthetic=True)]  # 32 of 10: 3 or 4 times each
    assert min(class2) == 3 and max(class2) == 4


def test_synthetic_balance_without_replacement_plus_class_weight_evens_the_rest() -> None:
    pool = make_pool()
    params = SamplerParams(balance_with_replacement=False)
    sampler = build_sampler(pool, "synthetic-balance+class-weight", params)
    idx = sampler.epoch_indices(0)
    counts = class_counts(pool, idx)
    assert counts.tolist() == [40, 40, 18]  # class 2 has only 10 synthetic images
    w = sampler.loss_weights(idx)
    per_class = np.bincount(pool.labels[idx], weights=w, minlength=3)
    np.testing.assert_allclose(per_class, per_class[0])
    np.testing.assert_allclose(w.mean(), 1.0)


def test_synthetic_ratio_gives_each_class_the_synthetic_fraction() -> None:
    pool = make_pool()
    idx = build_sampler(pool, "synthetic-ratio", SamplerParams(ratio=0.2)).epoch_indices(0)
    syn = class_counts(pool, idx, synthetic=True)
    total = class_counts(pool, idx)
    np.testing.assert_allclose(syn / total, 0.2)
    assert class_counts(pool, idx, synthetic=False).tolist() == list(REAL)


@pytest.mark.parametrize(("add_ratio", "added"), [(0.5, [0, 6, 4]), (2.0, [0, 24, 16])])
def test_synthetic_add_gives_each_minority_class_add_ratio_times_its_real_count(
    add_ratio: float, added: list[int]
) -> None:
    pool = make_pool()  # real (40, 12, 8), synthetic (20, 50, 10)
    sampler = build_sampler(pool, "synthetic-add", SamplerParams(add_ratio=add_ratio), seed=1)
    for epoch in (0, 3):
        idx = sampler.epoch_indices(epoch)
        assert class_counts(pool, idx, synthetic=False).tolist() == list(REAL)
        assert class_counts(pool, idx, synthetic=True).tolist() == added  # the majority: none
    u = uses(idx)
    assert all(u[i] == 1 for i in pool.indices(1, synthetic=True) if i in u)  # distinct
    class2 = [u.get(i, 0) for i in pool.indices(2, synthetic=True)]
    if added[2] > 10:  # 16 of 10 images: each once or twice
        assert min(class2) == 1 and max(class2) == 2
    else:
        assert max(class2) == 1


def test_synthetic_add_combines_with_class_weight_and_soft_label() -> None:
    pool = make_pool()
    params = SamplerParams(add_ratio=1.0)
    sampler = build_sampler(pool, "synthetic-add+class-weight+soft-label", params, seed=2)
    idx = sampler.epoch_indices(0)
    assert class_counts(pool, idx).tolist() == [40, 24, 16]
    w = sampler.loss_weights(idx)
    per_class = np.bincount(pool.labels[idx], weights=w, minlength=3)
    np.testing.assert_allclose(per_class, per_class[0])  # class-weight evens the rest
    syn = idx[pool.is_synthetic[idx]]
    real_scores = pool.d_score[~pool.is_synthetic]
    soft = soft_targets(pool.labels[syn], pool.d_score[syn], 3, real_scores)
    np.testing.assert_allclose(sampler.targets(syn), soft)  # soft targets on synthetic items
    assert (soft.max(axis=1) < 1).any()
    real = idx[~pool.is_synthetic[idx]]
    assert (sampler.targets(real).max(axis=1) == 1).all()
    with pytest.raises(ValueError, match="add_ratio must be > 0"):
        SamplerParams(add_ratio=0.0)


def test_synthetic_add_is_refused_without_synthetic_images() -> None:
    no_syn = build_pool(np.repeat(np.arange(3), REAL), 3)
    with pytest.raises(ValueError, match="synthetic-add needs synthetic images of class 1"):
        build_sampler(no_syn, "synthetic-add")
    # a class that gets none (the majority) may lack synthetic images
    only_minority = make_pool(syn=(0, 5, 5))
    assert build_sampler(only_minority, "synthetic-add").epoch_indices(0).size == 60 + 20


def test_synthetic_only_is_every_synthetic_image_once() -> None:
    pool = make_pool()
    idx = build_sampler(pool, "synthetic-only").epoch_indices(0)
    assert sorted(idx.tolist()) == pool.indices(synthetic=True).tolist()
    assert class_counts(pool, idx).tolist() == list(SYN)


def test_synthetic_pretrain_adds_synthetic_images_before_epoch_k_only() -> None:
    pool = make_pool()
    sampler = build_sampler(pool, "synthetic-pretrain", SamplerParams(pretrain_epochs=3), seed=2)
    balance = build_sampler(pool, "synthetic-balance", seed=2)
    for epoch in range(3):  # the synthetic-balance epochs, the same draws
        idx = sampler.epoch_indices(epoch)
        assert sampler.composition_at(epoch) == "synthetic-balance"
        np.testing.assert_array_equal(idx, balance.epoch_indices(epoch))
        assert class_counts(pool, idx, synthetic=True).tolist() == [0, 28, 32]
    for epoch in (3, 4, 10):  # then every real image once, no synthetic one
        idx = sampler.epoch_indices(epoch)
        assert sampler.composition_at(epoch) == "none"
        assert sorted(idx.tolist()) == pool.indices(synthetic=False).tolist()
    # further draws of an epoch keep its phase
    assert pool.is_synthetic[sampler.epoch_indices(1, draw=2)].any()
    assert not pool.is_synthetic[sampler.epoch_indices(5, draw=2)].any()
    none = build_sampler(pool, "synthetic-pretrain", SamplerParams(pretrain_epochs=0))
    assert not pool.is_synthetic[none.epoch_indices(0)].any()
    with pytest.raises(ValueError, match="pretrain_epochs must be >= 0"):
        SamplerParams(pretrain_epochs=-1)


def test_further_draws_are_seeded_as_before() -> None:
    # the trainer's longer epochs drew epoch + draw * 1_000_003 before draws had a name
    sampler = build_sampler(make_pool(), "oversample", seed=3)
    np.testing.assert_array_equal(
        sampler.epoch_indices(2, draw=1), sampler.epoch_indices(2 + 1_000_003)
    )
    with pytest.raises(ValueError, match="no further draws"):
        build_sampler(make_pool(), "cased").epoch_indices(0, draw=1)


def test_class_weight_alone_weights_the_real_epoch() -> None:
    pool = make_pool()
    sampler = build_sampler(pool, "class-weight")
    idx = sampler.epoch_indices(0)
    assert class_counts(pool, idx).tolist() == list(REAL)
    w = sampler.loss_weights(idx)
    np.testing.assert_allclose(np.bincount(pool.labels[idx], weights=w), len(idx) / 3)
    np.testing.assert_allclose(build_sampler(pool, "none").loss_weights(idx), 1.0)


@pytest.mark.parametrize(
    "strategy",
    [
        "synthetic-balance",
        "synthetic-ratio",
        "synthetic-only",
        "cased",
        "synthetic-pretrain",
        "synthetic-add",
    ],
)
def test_strategies_needing_synthetic_images_name_the_missing_class(strategy: str) -> None:
    pool = make_pool(syn=(5, 5, 0))
    with pytest.raises(ValueError, match=f"{strategy} needs synthetic images of class 2"):
        build_sampler(pool, strategy)


def test_oversample_and_cased_need_a_real_image_of_every_class() -> None:
    pool = make_pool(real=(5, 0, 3))
    for strategy in ("oversample", "cased"):
        with pytest.raises(ValueError, match=r"real image of every class; none of \[1\]"):
            build_sampler(pool, strategy)


def test_pool_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="same length"):
        Pool(np.array([0, 1]), np.array([False]), np.array([0.0, 0.0]), 2)
    with pytest.raises(ValueError, match="n_classes"):
        Pool(np.array([0, 2]), np.array([False, False]), np.array([0.0, 0.0]), 2)
    with pytest.raises(ValueError, match="ratio"):
        SamplerParams(ratio=1.0)


@pytest.mark.parametrize(
    "strategy", ["none", "oversample", "synthetic-balance", "synthetic-only", "cased"]
)
def test_epochs_are_deterministic_by_seed_and_epoch(strategy: str) -> None:
    pool = make_pool()
    a, b = build_sampler(pool, strategy, seed=1), build_sampler(pool, strategy, seed=1)
    np.testing.assert_array_equal(a.epoch_indices(4), b.epoch_indices(4))
    assert not np.array_equal(a.epoch_indices(4), a.epoch_indices(5))
    assert not np.array_equal(a.epoch_indices(4), build_sampler(pool, strategy).epoch_indices(4))


# --- soft labels ------------------------------------------------------------------------------


def test_confidence_is_calibrated_on_real_scores() -> None:
    real = np.array([3.0, -1.0, 0.5, 2.0, 1.0])
    np.testing.assert_allclose(score_confidence([1.0, -5.0, 9.0], real), [0.5, 0.0, 1.0])
    np.testing.assert_allclose(score_confidence(0.75, np.array([0.0, 0.5, 1.0, 1.5])), 0.5)
    np.testing.assert_allclose(score_confidence(0.5, real), 0.3)  # (1 below + tie / 2) / 5


def test_soft_targets_endpoints() -> None:
    t = soft_targets([2, 0], [-9.0, 9.0], 4, [0.0, 1.0])
    np.testing.assert_allclose(t[0], 0.25)  # less real-looking than any real image: uniform
    np.testing.assert_allclose(t[1], [1.0, 0.0, 0.0, 0.0])  # more than all: one-hot


@settings(max_examples=50, deadline=None)
@given(
    scores=st.lists(st.floats(-10, 10), min_size=2, max_size=30),
    real=st.lists(st.floats(-10, 10), min_size=1, max_size=30),
    n_classes=st.integers(2, 5),
    label=st.integers(0, 4),
)
def test_soft_targets_sum_to_one_and_follow_d_score(
    scores: list[float], real: list[float], n_classes: int, label: int
) -> None:
    label %= n_classes
    s = np.sort(np.asarray(scores))
    t = soft_targets(np.full(s.size, label), s, n_classes, real)
    np.testing.assert_allclose(t.sum(axis=1), 1.0)
    assert (t >= 0).all()
    assert (np.diff(t[:, label]) >= 0).all()
    others = np.delete(t, label, axis=1)
    assert (np.diff(others, axis=0) <= 1e-12).all()
    assert (t[:, label][:, None] >= others - 1e-12).all()


def test_sampler_targets_are_soft_for_synthetic_one_hot_for_real() -> None:
    pool = make_pool()
    sampler = build_sampler(pool, "synthetic-balance+soft-label")
    real, syn = pool.indices(synthetic=False), pool.indices(synthetic=True)
    np.testing.assert_array_equal(sampler.targets(real), np.eye(3)[pool.labels[real]])
    expected = soft_targets(pool.labels[syn], pool.d_score[syn], 3, pool.d_score[real])
    np.testing.assert_allclose(sampler.targets(syn), expected)
    plain = build_sampler(pool, "synthetic-balance")
    np.testing.assert_array_equal(plain.targets(syn), np.eye(3)[pool.labels[syn]])


def test_soft_label_needs_real_scores_for_calibration() -> None:
    pool = make_pool()
    unscored = Pool(
        pool.labels, pool.is_synthetic, np.where(pool.is_synthetic, pool.d_score, np.nan), 3
    )
    with pytest.raises(ValueError, match="calibrates on real images' d_score"):
        build_sampler(unscored, "synthetic-only+soft-label")


# --- CASED ------------------------------------------------------------------------------------


def test_cased_schedule_anneals_geometrically_from_one_to_real_share() -> None:
    pool = make_pool()
    sampler = build_sampler(pool, "cased", SamplerParams(n_epochs=11))
    assert isinstance(sampler, CasedSampler)
    assert sampler.p_end == pytest.approx(8 / 60)  # real share of the rarest class
    p = np.array([sampler.curriculum_p(t) for t in range(15)])
    assert p[0] == 1.0 and p[10] == pytest.approx(8 / 60) and (p[10:] == p[10]).all()
    assert (np.diff(p) <= 0).all() and (np.diff(p[:11]) < 0).all()
    decay = (8 / 60) ** (1 / 10)
    np.testing.assert_allclose(p, np.maximum(8 / 60, decay ** np.arange(15)))
    h = np.array([sampler.hard_fraction(t) for t in range(15)])
    assert h[0] == 0.0 and h[10] == 1.0 and (np.diff(h) >= 0).all()
    assert compute_cased_p(2, 3, 0.25) == pytest.approx(0.25)


def test_cased_curriculum_batches_are_balanced_and_rich_in_synthetic_minority() -> None:
    pool = make_pool()
    params = SamplerParams(batch_size=12, synthetic_share=0.75, n_epochs=5, max_reuse=4)
    sampler = build_sampler(pool, "cased", params)
    batches, is_cur = sampler.epoch_batches(0)
    assert is_cur.all() and batches.shape == (5, 12)  # p = 1: 60 real images -> 5 batches
    for batch in batches:
        assert class_counts(pool, batch).tolist() == [4, 4, 4]
        assert class_counts(pool, batch, synthetic=True).tolist() == [0, 3, 3]
    np.testing.assert_array_equal(sampler.epoch_indices(0), batches.ravel())


def test_cased_anneals_toward_the_real_distribution() -> None:
    pool = make_pool()
    params = SamplerParams(batch_size=12, n_epochs=3, p_end=0.25, epoch_size=2400)
    sampler = build_sampler(pool, "cased", params)
    batches, is_cur = sampler.epoch_batches(2)
    assert is_cur.mean() == pytest.approx(0.25, abs=0.07)
    for batch in batches[~is_cur]:
        assert not pool.is_synthetic[batch].any()
    for batch in batches[is_cur]:
        assert class_counts(pool, batch).tolist() == [4, 4, 4]
    freq = class_counts(pool, batches.ravel()) / batches.size
    real_share = np.array(REAL) / sum(REAL)
    np.testing.assert_allclose(freq, 0.25 / 3 + 0.75 * real_share, atol=0.04)


def test_cased_hard_examples_are_the_highest_loss_synthetic_images() -> None:
    pool = make_pool(syn=(20, 50, 40))
    params = SamplerParams(batch_size=12, n_epochs=3, p_end=0.5, epoch_size=240, max_reuse=2)
    sampler = build_sampler(pool, "cased", params)
    syn = pool.indices(synthetic=True)
    losses = np.random.default_rng(3).permutation(syn.size).astype(float)
    sampler.update_losses(np.concatenate([syn, [0, 1]]), np.concatenate([losses, [99.0, 99.0]]))
    idx = sampler.epoch_indices(2)  # annealed: hard_fraction = 1
    assert sampler.hard_fraction(2) == 1.0
    used = uses(idx[pool.is_synthetic[idx]])
    assert max(used.values()) <= 2
    loss_of = dict(zip(syn.tolist(), losses.tolist()))
    for c in (1, 2):
        in_class = pool.indices(c, synthetic=True)
        ranked = sorted(in_class.tolist(), key=lambda i: -loss_of[i])
        picked = {i for i in used if pool.labels[i] == c}
        assert picked and picked == set(ranked[: len(picked)])
    # at epoch 0 (hard_fraction = 0) synthetic images come in random order instead
    few = build_sampler(pool, "cased", SamplerParams(batch_size=12, n_epochs=3, epoch_size=36))
    few.update_losses(syn, losses)
    early = few.epoch_indices(0)
    picked0 = {i for i in early[pool.is_synthetic[early]].tolist() if pool.labels[i] == 2}
    ranked2 = sorted(pool.indices(2, synthetic=True).tolist(), key=lambda i: -loss_of[i])
    assert len(picked0) == 9 and picked0 != set(ranked2[:9])


@pytest.mark.parametrize("epoch", [0, 1, 2])  # hard share 0, ~0.6, 1
def test_cased_reuse_cap_fills_with_real_images_of_the_class(epoch: int) -> None:
    pool = make_pool(syn=(0, 6, 6))
    params = SamplerParams(batch_size=12, n_epochs=3, p_end=0.5, max_reuse=2, epoch_size=480)
    sampler = build_sampler(pool, "cased", params)
    syn = pool.indices(synthetic=True)
    sampler.update_losses(syn, np.arange(syn.size, dtype=float))
    batches, is_cur = sampler.epoch_batches(epoch)
    assert is_cur.sum() >= 10  # far more synthetic slots than 12 images x 2 uses
    used = uses(batches[pool.is_synthetic[batches]])
    assert sorted(used) == syn.tolist() and set(used.values()) == {2}
    for batch in batches[is_cur]:
        assert class_counts(pool, batch).tolist() == [4, 4, 4]


def test_cased_unscored_images_rank_hardest_and_bad_losses_are_rejected() -> None:
    pool = make_pool(syn=(0, 30, 30))
    params = SamplerParams(batch_size=12, n_epochs=2, p_end=0.5, epoch_size=120, max_reuse=1)
    sampler = build_sampler(pool, "cased", params)
    scored = pool.indices(synthetic=True)[:55]  # 5 of class 2 left unscored
    sampler.update_losses(scored, np.full(scored.size, 1.0))
    batches, is_cur = sampler.epoch_batches(1)
    unscored = set(pool.indices(synthetic=True)[55:].tolist())
    first = batches[np.flatnonzero(is_cur)[0]]
    picked2 = {i for i in first.tolist() if pool.is_synthetic[i] and pool.labels[i] == 2}
    assert len(picked2) == 3 and picked2 <= unscored  # 3 synthetic slots, all hard
    with pytest.raises(ValueError, match="finite"):
        sampler.update_losses([60], [np.nan])
    with pytest.raises(ValueError, match="2 indices but 1 losses"):
        sampler.update_losses([60, 61], [1.0])


def test_rescore_due_every_n_epochs() -> None:
    sampler = build_sampler(make_pool(), "cased", SamplerParams(rescore_every=3))
    assert [t for t in range(10) if sampler.rescore_due(t)] == [3, 6, 9]


# --- resume -----------------------------------------------------------------------------------


def test_cased_resume_from_state_dict() -> None:
    pool = make_pool()
    params = SamplerParams(batch_size=12, n_epochs=4, p_end=0.3)
    a = build_sampler(pool, "cased+soft-label", params, seed=7)
    syn = pool.indices(synthetic=True)
    a.update_losses(syn, np.linspace(0.0, 1.0, syn.size))
    state = a.state_dict()
    assert all(isinstance(v, float) for v in state["synthetic_loss"])  # plain values
    b = build_sampler(pool, "cased+soft-label", params, seed=7)
    assert not np.array_equal(a.epoch_indices(3), b.epoch_indices(3))
    b.load_state_dict(state)
    np.testing.assert_array_equal(a.epoch_indices(3), b.epoch_indices(3))
    with pytest.raises(ValueError, match="seed"):
        build_sampler(pool, "cased+soft-label", params, seed=8).load_state_dict(state)
    with pytest.raises(ValueError, match="params"):
        other = SamplerParams(batch_size=12, n_epochs=5, p_end=0.3)
        build_sampler(pool, "cased+soft-label", other, seed=7).load_state_dict(state)


def test_static_resume_checks_strategy() -> None:
    pool = make_pool()
    a = build_sampler(pool, "synthetic-balance+class-weight", seed=2)
    assert isinstance(a, EpochSampler) and not isinstance(a, CasedSampler)
    b = build_sampler(pool, ("class-weight", "synthetic-balance"), seed=2)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a.epoch_indices(6), b.epoch_indices(6))
    with pytest.raises(ValueError, match="strategy"):
        build_sampler(pool, "synthetic-balance", seed=2).load_state_dict(a.state_dict())


def test_a_state_saved_before_an_option_existed_resumes_at_its_default() -> None:
    pool = make_pool()
    state = build_sampler(pool, "synthetic-balance", seed=2).state_dict()
    del state["params"]["add_ratio"]  # as a run saved before synthetic-add had it
    build_sampler(pool, "synthetic-balance", seed=2).load_state_dict(state)
    with pytest.raises(ValueError, match="params"):
        other = build_sampler(pool, "synthetic-add", SamplerParams(add_ratio=2.0), seed=2)
        other.load_state_dict({**state, "strategy": "synthetic-add"})
