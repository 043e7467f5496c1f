"""With the real model and the demo data: relevant experts rank above unrelated ones, and a
demand finds the initiatives of its own field.

Expert texts are the profile (keywords and bio) plus each publication (title and abstract); the
affinity is the portal's default aggregation (``topk_mean`` with k=2, initiatives/config.py).
The labels are search/eval/expert_labels.json (67 initiatives, 3 to 5 relevant experts of 40).
"""

import numpy as np
import pytest

from search.affinity import expert_affinity, top_k

pytestmark = pytest.mark.model

DEFAULT_METHOD, DEFAULT_K = "topk_mean", 2


@pytest.fixture(scope="module")
def ranked(demo):
    """Affinity and relevance per labelled initiative, in label order."""
    rows = [demo.title_index[label["initiative"]] for label in demo.labels]
    affinity = expert_affinity(demo.initiative_vecs[rows], demo.expert_vecs, DEFAULT_METHOD,
                               k=DEFAULT_K)
    relevant = np.zeros(affinity.shape, dtype=bool)
    for q, label in enumerate(demo.labels):
        relevant[q, [demo.email_index[email] for email in label["relevant_experts"]]] = True
    refs = [demo.initiatives[r]["external_ref"] for r in rows]
    return refs, affinity, relevant


def _ranks(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """1-based ranks of the relevant experts in the ranking by ``scores``."""
    return np.flatnonzero(relevant[np.argsort(-scores, kind="stable")]) + 1


def test_every_label_refers_to_demo_data(demo):
    assert len(demo.labels) == 67 and len(demo.experts) == 40
    for label in demo.labels:
        assert label["initiative"] in demo.title_index
        assert set(label["relevant_experts"]) <= set(demo.email_index)


# Demo initiatives from many fields, in Vietnamese and English, whose labelled experts all rank in
# the top 8 of 40 (measured ranks are in docs/matching.md's script; the worst here is 7).
CLEAR_CASES = ["DEMO-INI-001", "DEMO-INI-002", "DEMO-INI-003", "DEMO-INI-004", "DEMO-INI-006",
               "DEMO-INI-010", "DEMO-INI-017", "DEMO-INI-019", "DEMO-INI-031", "DEMO-INI-034",
               "DEMO-INI-052", "DEMO-INI-054", "DEMO-INI-059", "DEMO-INI-062", "DEMO-INI-065",
               "DEMO-INI-068", "DEMO-INI-070", "DEMO-INI-072"]


@pytest.mark.parametrize("ref", CLEAR_CASES)
def test_experts_on_the_topic_rank_above_unrelated_experts(ranked, ref):
    refs, affinity, relevant = ranked
    q = refs.index(ref)
    ranks = _ranks(affinity[q], relevant[q])
    assert ranks[0] == 1, f"{ref}: the best expert is not one on the topic"
    assert ranks.max() <= 8, f"{ref}: relevant experts at ranks {ranks.tolist()} of 40"
    # every relevant expert scores above the median unrelated expert
    assert affinity[q, relevant[q]].min() > np.median(affinity[q, ~relevant[q]])


def test_ranking_quality_over_all_labelled_initiatives(ranked):
    _, affinity, relevant = ranked
    n_experts = affinity.shape[1]
    precision5, average_precision, auc, top1, mean_rank = [], [], [], [], []
    for scores, rel in zip(affinity, relevant, strict=True):
        ranks = _ranks(scores, rel)
        precision5.append((ranks <= 5).sum() / 5)
        average_precision.append(np.mean(np.arange(1, ranks.size + 1) / ranks))
        auc.append((scores[rel][:, None] > scores[~rel][None, :]).mean())
        top1.append(ranks[0] == 1)
        mean_rank.append(ranks.mean())
    chance_p5 = relevant.sum(axis=1).mean() / n_experts  # about 0.087
    # Measured with the glossary bridge: P@5 0.546, MAP 0.783, AUC 0.90, top-1 relevant for 63
    # of 67, mean rank 6.1 (without it: P@5 0.397, MAP 0.577, AUC 0.79, 50 of 67, 10.0).
    assert np.mean(precision5) > 5 * chance_p5
    assert np.mean(average_precision) > 0.7
    assert np.mean(auc) > 0.85
    assert np.mean(top1) > 0.85
    assert np.mean(mean_rank) < 8 < (n_experts + 1) / 2
    # Not a single labelled initiative has its relevant experts ranked below chance overall.
    assert min(auc) > 0.4


def test_english_initiatives_rank_experts_well(ranked, demo):
    """The default model is English; on English initiatives the ranking is close to perfect."""
    refs, affinity, relevant = ranked
    english = [q for q, ref in enumerate(refs)
               if demo.initiatives[demo.initiative_index[ref]]["language"] == "en"]
    assert len(english) == 23
    first = [_ranks(affinity[q], relevant[q])[0] for q in english]
    auc = [(affinity[q, relevant[q]][:, None] > affinity[q, ~relevant[q]][None, :]).mean()
           for q in english]
    assert max(first) == 1  # every English initiative's best expert is one on its topic
    assert np.mean(auc) > 0.9


def test_default_aggregation_beats_mean_and_centroid(ranked, demo):
    """The reason for the default: averaging over all texts dilutes a specialist's best work.
    With the glossary bridge the centroid of the texts comes close (bench/affinity_eval.py:
    +0.018 MAP, 95% interval -0.008 to +0.043), so it is only held to the noise."""
    refs, _, relevant = ranked
    rows = [demo.initiative_index[ref] for ref in refs]

    def mean_ap(method, **options):
        affinity = expert_affinity(demo.initiative_vecs[rows], demo.expert_vecs, method,
                                   **options)
        return np.mean([np.mean(np.arange(1, r.size + 1) / r)
                        for r in (_ranks(a, rel) for a, rel in zip(affinity, relevant,
                                                                     strict=True))])

    default = mean_ap(DEFAULT_METHOD, k=DEFAULT_K)
    assert default > mean_ap("mean") + 0.05
    assert default > mean_ap("quantile", q=0.5) + 0.1
    assert default > mean_ap("centroid") - 0.03
    assert default > mean_ap("topk_mean", k=3)
    assert default > mean_ap("max") - 0.02  # on par with max, the other good choice


def test_mandarin_ecommerce_demand_prefers_agricultural_ecommerce_over_chips(demo):
    demand = next(d for d in demo.demands if d["external_ref"] == "DEMO-DEM-001")
    assert "cam sành" in demand["title"] and "Lào Cai" in demand["title"]
    vec = demo.demand_vecs[demo.demands.index(demand)]
    scores = demo.initiative_vecs @ vec
    topic = np.array([i["topic"] for i in demo.initiatives])
    chips = scores[topic == "riscv-chip"]  # chip design, test and SoC initiatives
    # The two Vietnamese agri e-commerce initiatives (oranges and mandarins in the uplands; farmer
    # training in Bao Yen, Lao Cai) each score above every chip initiative ...
    for ref in ("DEMO-INI-019", "DEMO-INI-022"):
        assert scores[demo.initiative_index[ref]] > chips.max() + 0.05
    # ... and the best initiative for the demand is an agricultural e-commerce one.
    best, _ = top_k(vec, demo.initiative_vecs, 3)
    assert topic[best[0]] == "agri-ecommerce"
    assert (topic[best] == "agri-ecommerce").sum() >= 2


def test_crafted_demand_ranks_agri_ecommerce_above_chip_packaging(real_service):
    """The issue's example with an explicit chip-packaging initiative (the demo has none)."""
    demand = ("Giải pháp thương mại điện tử giúp nông dân Lào Cai tiêu thụ cam sành và quýt: "
              "gian hàng trực tuyến, livestream, tem truy xuất, kết nối vận chuyển.")
    ecommerce = ("Sàn thương mại điện tử nông sản cho hợp tác xã trái cây\n"
                 "Nông dân mở gian hàng trực tuyến, bán cam, quýt qua livestream và mạng xã hội.")
    packaging = ("Dây chuyền đóng gói chip bán dẫn tiên tiến\n"
                 "Đóng gói và kiểm thử vi mạch, hàn dây, đóng vỏ chip cho nhà máy bán dẫn.")
    ecommerce_en = "E-commerce marketplace and livestream sales of oranges for upland farmers"
    packaging_en = "Advanced semiconductor chip packaging and wire bonding line"
    d, e, p, e_en, p_en = real_service.encode([demand, ecommerce, packaging, ecommerce_en,
                                               packaging_en])
    assert d @ e > d @ p + 0.1
    assert d @ e_en > d @ p_en
