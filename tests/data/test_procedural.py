"""Tests for the procedural dermoscopy renderer: contract, determinism, and class separability."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lesiongan.data.procedural import CLASSES, render_lesion


def _render_set(n: int, h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """`n` images with balanced, shuffled labels; returns (N x h x w x 3, labels, attrs)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(CLASSES)
    rng.shuffle(labels)
    out = [render_lesion(CLASSES[k], rng, h, w) for k in labels]
    return np.stack([im for im, _ in out]), labels, [a for _, a in out]


def _balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean([np.mean(pred[y == c] == c) for c in range(len(CLASSES))]))


def test_classes() -> None:
    assert CLASSES == ("melanoma", "seborrheic_keratosis", "nevus")


@pytest.mark.parametrize(("h", "w"), [(32, 32), (32, 43), (48, 64), (77, 101), (256, 341)])
def test_shape_and_dtype(h: int, w: int) -> None:
    for label in CLASSES:
        img, _ = render_lesion(label, np.random.default_rng(0), h, w)
        assert img.shape == (h, w, 3)
        assert img.dtype == np.uint8
        assert img.flags.c_contiguous
        assert img.std() > 10  # not a blank image


def test_deterministic() -> None:
    for label in CLASSES:
        a, attrs_a = render_lesion(label, np.random.default_rng(7), 64, 85)
        b, attrs_b = render_lesion(label, np.random.default_rng(7), 64, 85)
        c, _ = render_lesion(label, np.random.default_rng(8), 64, 85)
        assert a.tobytes() == b.tobytes()
        assert attrs_a == attrs_b
        assert a.tobytes() != c.tobytes()


def test_uses_only_the_given_rng() -> None:
    np.random.seed(0)
    a, _ = render_lesion("melanoma", np.random.default_rng(3), 48, 64)
    np.random.seed(1)
    b, _ = render_lesion("melanoma", np.random.default_rng(3), 48, 64)
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("label", ["", "Melanoma", "bcc", "nevi"])
def test_bad_label(label: str) -> None:
    with pytest.raises(ValueError, match="unknown lesion label"):
        render_lesion(label, np.random.default_rng(0), 64, 85)


@pytest.mark.parametrize(("h", "w"), [(31, 64), (64, 31), (0, 0), (16, 21)])
def test_too_small(h: int, w: int) -> None:
    with pytest.raises(ValueError, match="at least 32"):
        render_lesion("nevus", np.random.default_rng(0), h, w)


def test_attrs_contract_and_hair_share() -> None:
    _, labels, attrs = _render_set(150, 32, 43, seed=1)
    with_hair = 0
    for a in attrs:
        json.dumps(a)  # JSON-serialisable
        assert isinstance(a["hair"], bool) and isinstance(a["field_border"], bool)
        assert 0.0 <= a["hair_fraction"] <= 1.0
        if a["hair"]:
            with_hair += 1
            assert 0.0 < a["hair_fraction"] < 0.3
        else:
            assert a["hair_fraction"] == 0.0
        assert 0.0 < a["lesion_radius_px"] <= 0.42 * 32 + 1e-6
    assert 0.2 <= with_hair / len(attrs) <= 0.4
    assert 0.1 <= np.mean([a["field_border"] for a in attrs]) <= 0.6
    # Hair is class-independent: every class gets some.
    for k in range(len(CLASSES)):
        assert any(a["hair"] for a, lab in zip(attrs, labels, strict=True) if lab == k)


def test_lesion_inside_centre_crop_and_where_attrs_say() -> None:
    h, w = 96, 128
    imgs, _, attrs = _render_set(45, h, w, seed=2)
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    darker = 0
    for img, a in zip(imgs, attrs, strict=True):
        cx, cy = a["lesion_center_px"]
        r = a["lesion_radius_px"]
        # The whole lesion fits the centre h x h crop.
        assert (w - h) / 2 <= cx - r and cx + r <= (w + h) / 2
        assert cy - r >= 0 and cy + r <= h
        lum = img.astype(np.float32).mean(-1)
        d = np.hypot(xx - cx, yy - cy)
        core, ring = lum[d < 0.3 * r], lum[(d > r + 2) & (d < r + 8)]
        darker += np.median(core) < np.median(ring) - 10
    assert darker >= 0.9 * len(attrs)  # pigment sits where the attrs put the lesion


def test_class_statistics_follow_dermoscopy() -> None:
    _, labels, attrs = _render_set(240, 32, 43, seed=4)
    radius = np.array([a["lesion_radius_px"] for a in attrs])
    mel, nev = CLASSES.index("melanoma"), CLASSES.index("nevus")
    assert radius[labels == mel].mean() > radius[labels == nev].mean()  # melanoma: larger


def _colour_features(imgs: np.ndarray) -> np.ndarray:
    """Hand-crafted ABCD-ish features of the centre crop: colour mean/spread, dark share."""
    h, w = imgs.shape[1:3]
    x = imgs[:, h // 4 : 3 * h // 4, (w - h // 2) // 2 : (w + h // 2) // 2].astype(np.float32)
    x /= 255.0
    lum = x.mean(-1)
    return np.concatenate(
        [
            x.mean((1, 2)),
            x.std((1, 2)),
            (lum < 0.3).mean((1, 2))[:, None],
            (x[..., 2] > x[..., 0]).mean((1, 2))[:, None],  # bluish pixels
            imgs.astype(np.float32).mean((1, 2)) / 255.0,
        ],
        axis=1,
    )


def test_simple_features_separate_classes_above_chance_but_not_perfectly() -> None:
    imgs, labels, _ = _render_set(450, 32, 43, seed=5)
    feats = _colour_features(imgs)
    ntr = 300
    mu, sd = feats[:ntr].mean(0), feats[:ntr].std(0) + 1e-6
    f = (feats - mu) / sd
    # Multinomial logistic regression by plain gradient descent.
    weights, bias = np.zeros((f.shape[1], len(CLASSES))), np.zeros(len(CLASSES))
    onehot = np.eye(len(CLASSES))[labels[:ntr]]
    for _ in range(400):
        z = f[:ntr] @ weights + bias
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        weights -= 0.5 * (f[:ntr].T @ (p - onehot) / ntr + 1e-3 * weights)
        bias -= 0.5 * (p - onehot).mean(0)
    acc = _balanced_accuracy(labels[ntr:], np.argmax(f[ntr:] @ weights + bias, 1))
    # margin: measured 0.744 (float64 gradient descent on a convex loss: the same on any machine
    # to far below the bounds); chance is 1/3, so 0.45 and 0.95 leave 0.29 and 0.21
    assert 0.45 < acc < 0.95, acc


@pytest.mark.slow
def test_small_cnn_separates_classes_above_chance_but_not_perfectly() -> None:
    torch = pytest.importorskip("torch")
    h, w = 48, 64
    imgs, labels, _ = _render_set(600, h, w, seed=0)
    crop = imgs[:, :, (w - h) // 2 : (w + h) // 2]  # the centre square keeps the lesion
    x = torch.from_numpy(crop).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    y = torch.from_numpy(labels).long()
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        net = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(16, 32, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(32, 32, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1),
            torch.nn.Flatten(),
            torch.nn.Linear(32, 3),
        )
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        ntr = 400
        for _ in range(15):
            perm = torch.randperm(ntr)
            for i in range(0, ntr, 32):
                idx = perm[i : i + 32]
                xb = x[idx]
                flip = torch.rand(len(idx)) < 0.5  # lesions have no handedness
                xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
                loss = torch.nn.functional.cross_entropy(net(xb), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        with torch.no_grad():
            pred = net(x[ntr:]).argmax(1).numpy()
    finally:
        torch.set_num_threads(threads)
    acc = _balanced_accuracy(labels[ntr:], pred)
    # margin: measured 0.621-0.692 over torch seeds 0-5 (a stand-in for other CPUs' trajectories),
    # the untrained network 1/3; bounds 0.5 and 0.97 leave 0.12 and 0.28
    assert 0.5 < acc < 0.97, acc
