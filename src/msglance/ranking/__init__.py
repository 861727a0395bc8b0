"""LTRP: learning to rank image patches without labels (Luo et al., CVPR 2024), offline.

A frozen masked autoencoder (:mod:`~msglance.ranking.mae`) says how much its reconstruction
changes when one visible patch is removed (:mod:`~msglance.ranking.pseudo_labels`); a small
ViT ranker (:mod:`~msglance.ranking.ranker`) learns those scores with a learning-to-rank loss
(:mod:`~msglance.ranking.losses`) and, at inference, scores every patch of a full image so that
the top ``k`` are kept (:mod:`~msglance.ranking.selectors`).
"""

from msglance.ranking.classifier import ClassifierConfig, TokenClassifier
from msglance.ranking.losses import (
    RankingLoss,
    focused_rank_loss,
    listmle_loss,
    listnet_loss,
    pointwise_mse_loss,
    ranking_loss,
    ranknet_loss,
    sublist_listmle_loss,
)
from msglance.ranking.mae import MAEConfig, MaskedAutoencoder, random_masking, visible_count
from msglance.ranking.patches import patchify, unpatchify
from msglance.ranking.pseudo_labels import PseudoScores, pseudo_scores
from msglance.ranking.ranker import PatchRanker, RankerConfig
from msglance.ranking.selectors import METHODS, patch_scores, select
from msglance.ranking.training import TrainResult, train_classifier, train_mae, train_ranker

__all__ = [
    "METHODS",
    "ClassifierConfig",
    "PatchRanker",
    "RankerConfig",
    "TokenClassifier",
    "TrainResult",
    "train_classifier",
    "train_mae",
    "train_ranker",
    "patch_scores",
    "select",
    "MAEConfig",
    "MaskedAutoencoder",
    "PseudoScores",
    "RankingLoss",
    "focused_rank_loss",
    "listmle_loss",
    "listnet_loss",
    "pointwise_mse_loss",
    "ranking_loss",
    "ranknet_loss",
    "sublist_listmle_loss",
    "patchify",
    "pseudo_scores",
    "random_masking",
    "unpatchify",
    "visible_count",
]
