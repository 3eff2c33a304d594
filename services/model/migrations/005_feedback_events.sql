-- Feedback arrives on the bus only (feedback.submitted): each event is recorded once by its id,
-- and names the set that first reflected it, so a burst of feedback makes one remake and the
-- gateway can wait for the set that reflects a listener's feedback.
CREATE TABLE model.feedback_events (
    event_id     uuid PRIMARY KEY,
    user_id      uuid NOT NULL,
    artist       text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('like', 'dislike', 'do_not_recommend')),
    expires_at   timestamptz,
    received_at  timestamptz NOT NULL DEFAULT now(),
    reflected_in uuid
);
CREATE INDEX feedback_events_pending ON model.feedback_events (user_id) WHERE reflected_in IS NULL;
