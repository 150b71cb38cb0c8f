"""Checks for the PyTorch comparison script.  Run from the repository root:
/usr/bin/python3 -B -m unittest discover -s bench/pytorch -p 'test_*.py'
or /usr/bin/python3 bench/pytorch/test_compare_checkpoint.py."""

import mmap
import os
import sys
import unittest

sys.dont_write_bytecode = True   # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import compare_checkpoint as cc  # noqa: E402
import models  # noqa: E402


class ParameterCounts(unittest.TestCase):
    def test_full_size_models_match_reference_architectures(self):
        # The reference counts are those of torchvision's resnet152 / vit_b_16, HF BertModel
        # (bert-large-uncased, with pooler) and HF GPT-2 small (lm_head tied to wte); the BERT and
        # GPT-2 ones are derived term by term in models.py.  A missing bias or an untied head
        # changes the count, so this fails on any structural drift.
        for name in models.MODEL_NAMES:
            with self.subTest(model=name):
                spec = models.build(name, small=False)
                self.assertEqual(spec.num_params, models.REFERENCE_PARAMS[name])

    def test_gpt2_head_is_tied_to_token_embedding(self):
        spec = models.build("gpt2", small=True)
        self.assertIs(spec.model[-1].lm_head.weight, spec.model[0].wte.weight)

    def test_chain_lengths(self):
        # stem + 3+8+36+3 bottlenecks + head; embeddings + layers + head
        expected = {"resnet152": 52, "vit_b_16": 14, "bert_large": 26, "gpt2": 14}
        for name, n in expected.items():
            with self.subTest(model=name):
                self.assertEqual(models.build(name, small=False).num_children, n)


class ChainShape(unittest.TestCase):
    def test_children_feed_each_other(self):
        # nn.Sequential's forward equals feeding each child's output to the next, so
        # checkpoint_sequential (which does exactly that) computes the same function.
        for name in models.MODEL_NAMES:
            with self.subTest(model=name):
                torch.manual_seed(0)
                spec = models.build(name, small=True)
                spec.model.eval()   # no dropout, BN running stats: deterministic
                x, _ = spec.make_batch(2, torch.Generator().manual_seed(1))
                with torch.no_grad():
                    h = x
                    for child in spec.model.children():
                        h = child(h)
                    self.assertTrue(torch.equal(h, spec.model(x)))


class Strategies(unittest.TestCase):
    def test_segment_counts(self):
        # ResNet-152's 52 children: round(sqrt(52)) = round(7.21) = 7; every-2: 26.
        self.assertEqual(cc.segments_for("sqrt", 52), 7)
        self.assertEqual(cc.segments_for("every2", 52), 26)
        self.assertEqual(cc.segments_for("sqrt", 25), 5)    # BERT-Large minus embeddings
        self.assertEqual(cc.segments_for("sqrt", 13), 4)    # GPT-2 minus embeddings: 3.61
        self.assertIsNone(cc.segments_for("full", 52))

    def test_checkpointed_gradients_equal_full_caching(self):
        # With the RNG re-seeded, dropout masks are replayed by checkpoint's preserved RNG state,
        # so the recomputation must reproduce full caching's gradients bit for bit.
        torch.set_num_threads(1)
        for name in ("vit_b_16", "gpt2"):
            torch.manual_seed(0)
            spec = models.build(name, small=True)
            runner = cc.Runner(spec, batch=2)
            grads = {}
            for s in ("full", "sqrt", "every2"):
                runner.zero_grad()
                torch.manual_seed(7)
                runner.forward_backward(s)
                grads[s] = [p.grad.clone() for p in spec.model.parameters()]
            for s in ("sqrt", "every2"):
                with self.subTest(model=name, strategy=s):
                    self.assertTrue(all(torch.equal(a, b)
                                        for a, b in zip(grads[s], grads["full"])))
                    self.assertTrue(any(g.abs().sum() > 0 for g in grads[s]))

    def test_unknown_strategy_is_rejected(self):
        with self.assertRaises(SystemExit):
            cc.parse_args(["--strategies", "full,rotor"])

    def test_full_is_always_first(self):
        self.assertEqual(cc.parse_args(["--strategies", "sqrt"]).strategies, ["full", "sqrt"])


class ProcessMemory(unittest.TestCase):
    def test_high_water_mark_reset_follows_a_new_allocation(self):
        if not cc.reset_hwm():
            self.skipTest("kernel does not support clear_refs 5")
        base = cc.rss_bytes()
        # 64 MiB of fresh anonymous pages, touched one by one. mmap directly, not malloc: earlier
        # tests may have left freed heap memory that is already resident and would be reused.
        block = mmap.mmap(-1, 64 << 20)
        for i in range(0, len(block), 4096):
            block[i] = 1
        grown = cc.hwm_bytes() - base
        block.close()                          # munmap: RSS falls back
        self.assertGreaterEqual(grown, 60 << 20)
        self.assertTrue(cc.reset_hwm())
        self.assertLess(cc.hwm_bytes() - base, 16 << 20)   # the 64 MiB left with the reset


if __name__ == "__main__":
    unittest.main()
