"""The SNIPS voice-assistant schema: one intent and its slots (../shared/data/snips).

``intent`` is a ``Literal`` of the 7 intents (→ an exclusive textcat subtask); every slot is a span
of the query (→ a label of the one NER subtask): ``str | None`` for slots that occur once, and
``list[str]`` for the four that the data sometimes holds twice in one query. Gold records come from
the data's ``labels`` (the intent) and ``spans`` (the slots, labelled with these field names).

Use it in config as ``schema = "distil.extract.examples.snips:SnipsQuery"``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Intent = Literal[
    "AddToPlaylist",
    "BookRestaurant",
    "GetWeather",
    "PlayMusic",
    "RateBook",
    "SearchCreativeWork",
    "SearchScreeningEvent",
]


class SnipsQuery(BaseModel):
    """What a voice assistant must understand of one query."""

    model_config = ConfigDict(extra="forbid")

    intent: Intent = Field(description="what the user wants done")
    album: str | None = None
    artist: str | None = None
    best_rating: str | None = None
    city: str | None = None
    condition_description: str | None = None
    condition_temperature: str | None = None
    country: str | None = None
    cuisine: str | None = None
    current_location: str | None = None
    entity_name: str | None = None
    facility: str | None = None
    genre: str | None = None
    geographic_poi: str | None = None
    location_name: str | None = None
    movie_name: str | None = None
    movie_type: str | None = None
    music_item: list[str] = Field(default_factory=list)
    object_location_type: str | None = None
    object_name: str | None = None
    object_part_of_series_type: str | None = None
    object_select: str | None = None
    object_type: list[str] = Field(default_factory=list)
    party_size_description: str | None = None
    party_size_number: str | None = None
    playlist: str | None = None
    playlist_owner: str | None = None
    poi: str | None = None
    rating_unit: str | None = None
    rating_value: str | None = None
    restaurant_name: str | None = None
    restaurant_type: list[str] = Field(default_factory=list)
    served_dish: str | None = None
    service: str | None = None
    sort: str | None = None
    spatial_relation: list[str] = Field(default_factory=list)
    state: str | None = None
    timeRange: str | None = None
    track: str | None = None
    year: str | None = None
