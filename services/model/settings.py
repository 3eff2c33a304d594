"""Model's settings over the shared base."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fullcircle.settings import FullCircleSettings


class ModelSettings(FullCircleSettings):
    grpc_port: int = 50052
    features_address: str = Field(
        default="127.0.0.1:50055", description="features' Tastes API (training views)"
    )
    features_deadline_s: float = Field(
        default=10.0, gt=0, description="cap on a training view call to features"
    )
    set_size: int = Field(default=100, ge=1, description="recommendations stored per set")
    seed_artists: int = Field(default=300, ge=1, description="top artists whose similars count")
    candidate_tags: int = Field(default=5, ge=0, description="top tags whose top artists count")
    liked_label: Literal["skips", "top_weight"] = Field(
        default="skips",
        description="liked = top share by decayed weight and rarely skipped (skips), or the "
        "seed's top share by decayed weight alone (top_weight)",
    )
    liked_share: float = Field(default=0.25, gt=0, le=1, description="top share that is liked")
    max_skip_rate: float = Field(
        default=0.5, ge=0, le=1, description="a liked artist is skipped on at most this share"
    )
    train_seed: int = Field(
        default=0, ge=0, description="seed of every random draw in training (same seed, same model)"
    )
    classifier_settings: int = Field(
        default=3, ge=1, le=5, description="forest settings cross-validated per retrain"
    )
    weight_trials: int = Field(
        default=400, ge=0, description="random part-weight settings tried per retrain"
    )
    refine_passes: int = Field(
        default=10, ge=0, description="coordinate refinement passes after the random settings"
    )
    training_processes: int = Field(
        default=1, ge=1, description="processes that train models, apart from the server's"
    )
    training_job_timeout_s: float = Field(
        default=600.0, gt=0, description="a training job unanswered this long kills its pool"
    )
    holdout_share: float = Field(
        default=0.2, gt=0, lt=1, description="newest share of artists held out (by first listen)"
    )
    min_holdout_positives: int = Field(
        default=5, ge=1, description="fewer new artists after the cutoff: fixed weights"
    )
    min_training_artists: int = Field(
        default=20, ge=1, description="fewer artists before the cutoff: fixed weights"
    )
    recommendation_sets_kept: int = Field(
        default=50, ge=1, description="newest sets kept per listener; older ones are deleted"
    )
    feedback_debounce_seconds: float = Field(
        default=2.0,
        ge=0,
        description="quiet time after a listener's last feedback before one remake reflects it",
    )
    retrain_debounce_seconds: float = Field(
        default=2.0, ge=0, description="quiet time after a profile change before retraining"
    )
    co_listening_neighbours: int = Field(
        default=50, ge=1, description="most similar other listeners whose artists count"
    )
    co_listening_candidates: int = Field(
        default=200, ge=0, description="best co-listening artists added as candidates"
    )
