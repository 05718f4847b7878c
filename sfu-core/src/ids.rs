//! Typed handles and wire identifiers, all from one macro.

use core::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident($inner:ty), $fmt:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, $fmt, self.0)
            }
        }
    };
}

id_type!(
    /// A room: participants in one call.
    RoomId(u64),
    "room {}"
);
id_type!(
    /// A participant, and the transport (one BUNDLE connection) it sends and receives on.
    ParticipantId(u64),
    "participant {}"
);
id_type!(
    /// A published track (one camera, one microphone, one screen share).
    TrackId(u64),
    "track {}"
);
id_type!(
    /// One subscriber's subscription to one track.
    SubscriptionId(u64),
    "subscription {}"
);
id_type!(
    /// An RTP synchronization source.
    Ssrc(u32),
    "SSRC {:#010x}"
);
id_type!(
    /// An RTP sequence number extended with its rollover count.
    ExtSeq(u64),
    "seq {}"
);
