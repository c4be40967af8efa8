"""SQLAlchemy models. Table names follow the reference document where it names them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, object_session, relationship

from wfdesk.states import RunState, UnitState

# JSONB on PostgreSQL so the reference's `config || '{...}'::jsonb` migration SQL runs verbatim.
JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONType, datetime: DateTime(timezone=True)}


class Post(Base):
    __tablename__ = "post"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(40), default="draft")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)

    sections: Mapped[list[PostSection]] = relationship(
        back_populates="post", order_by="PostSection.position", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": lock_version}


class PostSection(Base):
    __tablename__ = "post_section"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(String(500), default="")
    lock_version: Mapped[int] = mapped_column(Integer, default=1)

    post: Mapped[Post] = relationship(back_populates="sections")

    __mapper_args__ = {"version_id_col": lock_version}


class ContentField(Base):
    """The current value of one named text field of a post (section_id NULL) or of one section.

    One row per field rather than a JSON blob, so two editors (or an editor and a run) changing different fields
    of the same section never conflict, while the same field is guarded by optimistic locking.
    """

    __tablename__ = "content_field"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"))
    section_id: Mapped[int | None] = mapped_column(ForeignKey("post_section.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    # NULL while the field has an accepted version: its text lives there, once (issue 11). Only a value with no
    # version (or one set by hand, which then wins, as before) is kept here. Read and write `value`.
    stored_value: Mapped[str | None] = mapped_column("value", Text)
    accepted_version_id: Mapped[int | None] = mapped_column(Integer)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # Loaded in the same query as the field (a join), so reading values stays one query however many fields.
    accepted_version: Mapped[ContentVersion | None] = relationship(
        primaryjoin="foreign(ContentField.accepted_version_id) == ContentVersion.id", lazy="joined",
        viewonly=True)

    @hybrid_property
    def value(self) -> str | None:
        """The field's current text (or image_url): its own value if it has one, else its accepted version's."""
        if self.stored_value is not None or self.accepted_version_id is None:
            return self.stored_value
        version = self.accepted_version
        if version is None or version.id != self.accepted_version_id:  # the pointer moved since loading
            session = object_session(self)
            version = session.get(ContentVersion, self.accepted_version_id) if session is not None else None
        return version.value if version is not None else None

    @value.inplace.setter
    def _value_setter(self, value: str | None) -> None:
        self.stored_value = value

    @value.inplace.expression
    @classmethod
    def _value_expression(cls) -> ColumnElement[str]:
        accepted = (select(ContentVersion.value).where(ContentVersion.id == cls.accepted_version_id)
                    .scalar_subquery())
        return func.coalesce(cls.stored_value, accepted).label("value")

    __mapper_args__ = {"version_id_col": lock_version}
    __table_args__ = (
        Index("uq_content_field", "post_id", func.coalesce(section_id, 0), "name", unique=True),
        Index("ix_content_field_section", "section_id"),
    )


class LLMAction(Base):
    __tablename__ = "llm_action"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prompt_template: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(200), default="gpt-4o-mini")
    temperature: Mapped[float] = mapped_column(Float, default=0.7)
    max_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": lock_version}


class WorkflowStepEntity(Base):
    __tablename__ = "workflow_step_entity"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    stage: Mapped[str] = mapped_column(String(200), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": lock_version}


class PostWorkflowStepAction(Base):
    """A post's override of a step's config (overlaid on the step's own config)."""

    __tablename__ = "post_workflow_step_action"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"))
    step_id: Mapped[int] = mapped_column(ForeignKey("workflow_step_entity.id", ondelete="CASCADE"))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": lock_version}
    __table_args__ = (UniqueConstraint("post_id", "step_id", name="uq_post_step_override"),)


class Run(Base):
    """One execution of a step on a post: the audit record."""

    __tablename__ = "workflow_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("workflow_step_entity.id", ondelete="SET NULL"))
    post_id: Mapped[int | None] = mapped_column(ForeignKey("post.id", ondelete="SET NULL"))
    step_name: Mapped[str] = mapped_column(String(200), default="")
    script_type: Mapped[str] = mapped_column(String(100))
    # queued | running | succeeded | failed | partial | cancelled | interrupted
    status: Mapped[str] = mapped_column(String(20), default=RunState.QUEUED)
    effective_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    owner: Mapped[str | None] = mapped_column(String(200))  # host:pid of the process executing it
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    # "user@host" of who started it: on a shared database, tells an editor's runs from a colleague's.
    started_by: Mapped[str | None] = mapped_column(String(200))
    # Queued on the team's workers (wfdesk worker) rather than run by the process that started it.
    on_workers: Mapped[bool] = mapped_column(default=False, server_default=false())
    # A cancel asked by someone other than the run's executor ("user@host"); the executor's heartbeat honours it.
    cancel_requested_at: Mapped[datetime | None] = mapped_column()
    cancel_requested_by: Mapped[str | None] = mapped_column(String(200))

    units: Mapped[list[RunUnit]] = relationship(
        back_populates="run", order_by="RunUnit.position", cascade="all, delete-orphan"
    )

    __table_args__ = (Index("ix_workflow_run_post_step", "post_id", "step_id"),
                      Index("ix_workflow_run_status", "status", "id"),  # the history is paged by id
                      Index("ix_workflow_run_step", "step_id", "id"),
                      Index("ix_workflow_run_created", "created_at"),
                      Index("ix_workflow_run_started_by", "started_by", "id"))  # "Only mine"


class RunUnit(Base):
    """One section of a run (or the whole post when section_id is NULL)."""

    __tablename__ = "workflow_run_unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("workflow_run.id", ondelete="CASCADE"), index=True)
    section_id: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # queued | running | success | error | cancelled
    status: Mapped[str] = mapped_column(String(20), default=UnitState.QUEUED)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    images: Mapped[int] = mapped_column(Integer, default=0)
    model: Mapped[str | None] = mapped_column(String(200))
    cost: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")  # estimated, from the price table
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prompt: Mapped[str | None] = mapped_column(Text)  # the rendered prompt as sent (LLM and image steps)
    # Result cache (wfdesk/runs/result_cache.py): the sha256 of what decided the answer, and whether it was reused.
    cache_key: Mapped[str | None] = mapped_column(String(64))
    cache_hit: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    run: Mapped[Run] = relationship(back_populates="units")

    __table_args__ = (Index("ix_workflow_run_unit_finished", "finished_at"),
                      Index("ix_workflow_run_unit_cache_key", "cache_key"))


class ImageAsset(Base):
    """An image file in the content-addressed store (path relative to the data dir)."""

    __tablename__ = "image_asset"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(500), unique=True)
    mime: Mapped[str] = mapped_column(String(50))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ContentVersion(Base):
    """Every value a field ever had from a handler or an editor. Nothing is deleted: accept, reject and revert
    only move `ContentField.accepted_version_id` and `status`."""

    __tablename__ = "content_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"))
    section_id: Mapped[int | None] = mapped_column(ForeignKey("post_section.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10), default="text")  # text | image
    value: Mapped[str | None] = mapped_column(Text)  # the text, or the image_url for images
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("image_asset.id"))
    # candidate (awaiting review) | accepted | rejected | superseded (was current, replaced later)
    status: Mapped[str] = mapped_column(String(20), default="candidate")
    source: Mapped[str] = mapped_column(String(20), default="run")  # run | editor | import
    run_id: Mapped[int | None] = mapped_column(ForeignKey("workflow_run.id", ondelete="SET NULL"))
    unit_id: Mapped[int | None] = mapped_column(Integer)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    starred: Mapped[bool] = mapped_column(default=False, server_default=false())  # the editor's mark, in review

    asset: Mapped[ImageAsset | None] = relationship()

    __table_args__ = (Index("ix_content_version_target", "post_id", "section_id", "field"),)


class ProviderPause(Base):
    """Until when nobody on this database sends a provider anything: the Retry-After of a 429 one machine got
    (PostgreSQL only; see wfdesk/providers/shared_gate.py). Keyed by the provider's address, not a profile name."""

    __tablename__ = "provider_pause"

    provider: Mapped[str] = mapped_column(String(500), primary_key=True)
    paused_until: Mapped[datetime] = mapped_column()
