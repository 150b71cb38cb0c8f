"""Chain-shaped (nn.Sequential) versions of the benchmark architectures.

Every model is an ``nn.Sequential`` whose top-level children form a chain: child i takes exactly
one tensor, the output of child i-1, and returns one tensor.  That is the shape
``torch.utils.checkpoint.checkpoint_sequential`` needs and the shape gradrecomp's chain solvers
plan for.  All weights are randomly initialised; nothing is downloaded.

    resnet152  torchvision.models.resnet152: stem | 50 bottleneck blocks | avgpool+fc   (N = 52)
    vit_b_16   torchvision.models.vit_b_16:  patchify+cls+pos | 12 encoder blocks | ln+cls+head
    bert_large BERT-Large encoder from torch.nn modules: embeddings | 24 post-LN layers | pooler
    gpt2       GPT-2 small from torch.nn modules: wte+wpe | 12 pre-LN causal blocks | ln_f+tied lm_head

``Spec`` carries the model together with the recipe for a synthetic batch and the loss, and the
reference parameter count of the full-size architecture (``None`` for the small configurations).
"""

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import Bottleneck, ResNet
from torchvision.models.vision_transformer import VisionTransformer

# Reference parameter counts of the full-size architectures.
#   resnet152: torchvision.models.resnet152(), 1000 classes.
#   vit_b_16:  torchvision.models.vit_b_16(), 1000 classes.
#   bert_large: HF BertModel (bert-large-uncased) incl. pooler; by formula
#     emb  = (30522 + 512 + 2) * 1024 + 2 * 1024                       =  31,782,912
#     layer = 4*1024*1024 + 4*1024 (qkv+out) + 2*1024*4096 + 4096 + 1024 (FFN) + 4*1024 (2 LNs)
#           = 12,596,224;  24 layers                                    = 302,309,376
#     pooler = 1024*1024 + 1024                                         =   1,049,600
#     total                                                             = 335,141,888
#   gpt2: HF GPT2Model (gpt2, 124M) with the lm_head tied to wte:
#     wte 50257*768 + wpe 1024*768 + 12 * 7,087,872 + ln_f 1536         = 124,439,808
REFERENCE_PARAMS = {
    "resnet152": 60_192_808,
    "vit_b_16": 86_567_656,
    "bert_large": 335_141_888,
    "gpt2": 124_439_808,
}

MODEL_NAMES = tuple(REFERENCE_PARAMS)


@dataclass
class Spec:
    name: str
    config: str                      # "full" or "small"
    model: nn.Sequential
    token_input: bool                # child 0 takes integer ids (cannot require grad)
    make_batch: Callable[[int, torch.Generator], tuple]
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    reference_params: Optional[int]
    shape: dict = field(default_factory=dict)   # input description for the report

    @property
    def num_params(self) -> int:
        # parameters() de-duplicates shared (tied) tensors
        return sum(p.numel() for p in self.model.parameters())

    @property
    def num_children(self) -> int:
        return len(self.model)


# ----------------------------------------------------------------------------------------------
# ResNet


class ResNetStem(nn.Module):
    def __init__(self, net: ResNet):
        super().__init__()
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool

    def forward(self, x):
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))


class ResNetHead(nn.Module):
    def __init__(self, net: ResNet):
        super().__init__()
        self.avgpool, self.fc = net.avgpool, net.fc

    def forward(self, x):
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet_chain(net: ResNet) -> nn.Sequential:
    blocks = [b for layer in (net.layer1, net.layer2, net.layer3, net.layer4) for b in layer]
    return nn.Sequential(ResNetStem(net), *blocks, ResNetHead(net))


# ----------------------------------------------------------------------------------------------
# ViT


class ViTStem(nn.Module):
    """conv patch projection, class token, position embedding, dropout (torchvision's order)."""

    def __init__(self, vit: VisionTransformer):
        super().__init__()
        self.patch_size = vit.patch_size
        self.hidden_dim = vit.hidden_dim
        self.conv_proj = vit.conv_proj
        self.class_token = vit.class_token
        self.pos_embedding = vit.encoder.pos_embedding
        self.dropout = vit.encoder.dropout

    def forward(self, x):
        n = x.shape[0]
        x = self.conv_proj(x)                                   # (n, hidden, h/p, w/p)
        x = x.reshape(n, self.hidden_dim, -1).permute(0, 2, 1)  # (n, patches, hidden)
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)
        return self.dropout(x + self.pos_embedding)


class ViTHead(nn.Module):
    def __init__(self, vit: VisionTransformer):
        super().__init__()
        self.ln = vit.encoder.ln
        self.heads = vit.heads

    def forward(self, x):
        return self.heads(self.ln(x)[:, 0])


def vit_chain(vit: VisionTransformer) -> nn.Sequential:
    return nn.Sequential(ViTStem(vit), *vit.encoder.layers, ViTHead(vit))


# ----------------------------------------------------------------------------------------------
# Transformer blocks written with torch.nn (shared by BERT and GPT-2)


class SelfAttention(nn.Module):
    """Multi-head self-attention: fused qkv projection, softmax(QK^T/sqrt(d)), dropout, out proj."""

    def __init__(self, hidden: int, heads: int, dropout: float, causal: bool):
        super().__init__()
        assert hidden % heads == 0, f"hidden {hidden} must be a multiple of heads {heads}"
        self.heads, self.head_dim, self.causal = heads, hidden // heads, causal
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.attn_dropout = nn.Dropout(dropout)

    def forward(self, x):
        b, t, h = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        att = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
        if self.causal:
            mask = torch.ones(t, t, dtype=torch.bool, device=x.device).triu_(1)
            att = att.masked_fill(mask, float("-inf"))
        att = self.attn_dropout(F.softmax(att, dim=-1))
        y = torch.matmul(att, v).transpose(1, 2).reshape(b, t, h)
        return self.proj(y)


class BertEmbeddings(nn.Module):
    def __init__(self, vocab, max_pos, type_vocab, hidden, dropout):
        super().__init__()
        self.word = nn.Embedding(vocab, hidden)
        self.position = nn.Embedding(max_pos, hidden)
        self.token_type = nn.Embedding(type_vocab, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(dropout)
        for emb in (self.word, self.position, self.token_type):
            nn.init.normal_(emb.weight, std=0.02)   # BERT's initializer_range

    def forward(self, ids):
        t = ids.shape[1]
        pos = torch.arange(t, device=ids.device)
        # single-segment input: token type 0 everywhere
        x = self.word(ids) + self.position(pos) + self.token_type.weight[0]
        return self.dropout(self.norm(x))


class BertLayer(nn.Module):
    """Post-LN encoder layer as in BERT: x = LN(x + drop(attn(x))); x = LN(x + drop(W2 gelu(W1 x)))."""

    def __init__(self, hidden, heads, ffn, dropout):
        super().__init__()
        self.attn = SelfAttention(hidden, heads, dropout, causal=False)
        self.drop1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(hidden, eps=1e-12)
        self.fc1 = nn.Linear(hidden, ffn)
        self.fc2 = nn.Linear(ffn, hidden)
        self.drop2 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x):
        x = self.norm1(x + self.drop1(self.attn(x)))
        return self.norm2(x + self.drop2(self.fc2(F.gelu(self.fc1(x)))))


class BertPooler(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)

    def forward(self, x):
        return torch.tanh(self.dense(x[:, 0]))


class GPT2Embeddings(nn.Module):
    def __init__(self, vocab, max_pos, hidden, dropout):
        super().__init__()
        self.wte = nn.Embedding(vocab, hidden)
        self.wpe = nn.Embedding(max_pos, hidden)
        self.dropout = nn.Dropout(dropout)
        nn.init.normal_(self.wte.weight, std=0.02)   # GPT-2's initializer_range
        nn.init.normal_(self.wpe.weight, std=0.01)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1], device=ids.device)
        return self.dropout(self.wte(ids) + self.wpe(pos))


class GPT2Block(nn.Module):
    """Pre-LN causal block: x = x + drop(attn(LN(x))); x = x + drop(W2 gelu_tanh(W1 LN(x)))."""

    def __init__(self, hidden, heads, dropout):
        super().__init__()
        self.ln1 = nn.LayerNorm(hidden, eps=1e-5)
        self.attn = SelfAttention(hidden, heads, dropout, causal=True)
        self.drop1 = nn.Dropout(dropout)
        self.ln2 = nn.LayerNorm(hidden, eps=1e-5)
        self.fc1 = nn.Linear(hidden, 4 * hidden)
        self.fc2 = nn.Linear(4 * hidden, hidden)
        self.drop2 = nn.Dropout(dropout)

    def forward(self, x):
        x = x + self.drop1(self.attn(self.ln1(x)))
        return x + self.drop2(self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh")))


class GPT2Head(nn.Module):
    """Final LayerNorm and the language-model head whose weight is tied to the token embedding."""

    def __init__(self, hidden, wte: nn.Embedding):
        super().__init__()
        self.ln_f = nn.LayerNorm(hidden, eps=1e-5)
        self.lm_head = nn.Linear(hidden, wte.num_embeddings, bias=False)
        self.lm_head.weight = wte.weight   # tied

    def forward(self, x):
        return self.lm_head(self.ln_f(x))


# ----------------------------------------------------------------------------------------------
# Specs


def _image_batch(image, classes):
    def make(b, gen):
        x = torch.randn(b, 3, image, image, generator=gen)
        y = torch.randint(0, classes, (b,), generator=gen)
        return x, y
    return make


def _ce_logits(out, y):
    return F.cross_entropy(out, y)


def _ce_tokens(out, y):
    return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))


def build(name: str, small: bool, image: Optional[int] = None, seq: Optional[int] = None) -> Spec:
    """Builds model `name` (one of MODEL_NAMES); `small` selects the quick configuration."""
    config = "small" if small else "full"
    ref = None if small else REFERENCE_PARAMS[name]
    if name == "resnet152":
        image = image or (64 if small else 224)
        net = ResNet(Bottleneck, [1, 2, 2, 1]) if small else torchvision.models.resnet152()
        return Spec(name, config, resnet_chain(net), False, _image_batch(image, 1000),
                    _ce_logits, ref, {"image": [3, image, image], "classes": 1000})
    if name == "vit_b_16":
        image = image or (64 if small else 224)
        if small:
            vit = VisionTransformer(image_size=image, patch_size=16, num_layers=4, num_heads=4,
                                    hidden_dim=192, mlp_dim=768)
        else:
            vit = torchvision.models.vit_b_16(image_size=image)
        return Spec(name, config, vit_chain(vit), False, _image_batch(image, 1000),
                    _ce_logits, ref, {"image": [3, image, image], "classes": 1000})
    if name == "bert_large":
        if small:
            layers, hidden, heads, ffn = 4, 256, 4, 1024
        else:
            layers, hidden, heads, ffn = 24, 1024, 16, 4096
        vocab, max_pos, dropout = 30522, 512, 0.1
        seq = seq or 128
        if seq > max_pos:
            raise SystemExit(f"--seq {seq} exceeds BERT's {max_pos} positions")
        model = nn.Sequential(BertEmbeddings(vocab, max_pos, 2, hidden, dropout),
                              *[BertLayer(hidden, heads, ffn, dropout) for _ in range(layers)],
                              BertPooler(hidden))

        def make(b, gen):
            ids = torch.randint(0, vocab, (b, seq), generator=gen)
            target = torch.randn(b, hidden, generator=gen)
            return ids, target
        # Loss: mean squared error of the pooled [CLS] vector against a random target (no extra
        # head parameters, so the count stays BertModel's).
        return Spec(name, config, model, True, make, F.mse_loss, ref,
                    {"seq": seq, "vocab": vocab, "layers": layers, "hidden": hidden})
    if name == "gpt2":
        if small:
            layers, hidden, heads, vocab, max_pos = 4, 256, 4, 8192, 256
        else:
            layers, hidden, heads, vocab, max_pos = 12, 768, 12, 50257, 1024
        seq = seq or (128 if small else 1024)
        if seq > max_pos:
            raise SystemExit(f"--seq {seq} exceeds GPT-2's {max_pos} positions")
        emb = GPT2Embeddings(vocab, max_pos, hidden, 0.1)
        model = nn.Sequential(emb, *[GPT2Block(hidden, heads, 0.1) for _ in range(layers)],
                              GPT2Head(hidden, emb.wte))

        def make(b, gen):
            ids = torch.randint(0, vocab, (b, seq), generator=gen)
            target = torch.randint(0, vocab, (b, seq), generator=gen)
            return ids, target
        return Spec(name, config, model, True, make, _ce_tokens, ref,
                    {"seq": seq, "vocab": vocab, "layers": layers, "hidden": hidden})
    raise SystemExit(f"unknown model {name!r}; expected one of {', '.join(MODEL_NAMES)}")
