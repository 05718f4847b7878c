//! A clinical profile as the allocator's [`SpecialtyHook`].
//!
//! telesfu-core's allocator asks three questions of each subscribed track; a profile answers
//! them from its [`AllocationPolicy`](crate::profiles::AllocationPolicy): the rank of the
//! track's source (audio first, then the profile's ranking), how the track climbs
//! (spatial-first for dermatology, temporal-first for behavioural health and telestroke), and
//! the floor it must hold, with an alert when the floor cannot be held.

use telesfu_core::alloc::{CandidateOrder, Floor, PublisherRole, SpecialtyHook, TrackMeta};

use crate::profiles::{ClinicalProfile, LayerOrder, TrackSource};

/// Maps the engine's view of a track to the profile's source kinds.
pub fn source_of(meta: &TrackMeta) -> TrackSource {
    use telesfu_core::alloc::TrackSource as Core;
    if meta.audio {
        return TrackSource::Audio;
    }
    match (meta.source, meta.role) {
        (Core::Screen, _) => TrackSource::ScreenShare,
        (Core::Exam, _) => TrackSource::ExamCamera,
        (_, PublisherRole::Patient) => TrackSource::PatientCamera,
        // A camera of a clinician or of anyone else (interpreter, family): below the patient's.
        _ => TrackSource::ClinicianCamera,
    }
}

impl SpecialtyHook for ClinicalProfile {
    fn rank(&self, meta: &TrackMeta) -> u8 {
        ClinicalProfile::rank(self, source_of(meta))
    }

    fn candidate_order(&self, _meta: &TrackMeta) -> CandidateOrder {
        match self.allocation().layer_order {
            LayerOrder::SpatialFirst => CandidateOrder::SpatialFirst,
            LayerOrder::TemporalFirst => CandidateOrder::TemporalFirst,
            _ => CandidateOrder::Balanced,
        }
    }

    fn floor(&self, meta: &TrackMeta) -> Option<Floor> {
        let f = ClinicalProfile::floor(self, source_of(meta))?;
        let clamp = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
        Some(Floor {
            min_width: clamp(f.min_width),
            min_height: clamp(f.min_height),
            min_fps: clamp(f.min_framerate),
            alert: f.alert,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::builtin;
    use telesfu_core::alloc::TrackSource as Core;

    fn camera(role: PublisherRole) -> TrackMeta {
        TrackMeta {
            source: Core::Camera,
            role,
            audio: false,
        }
    }

    #[test]
    fn dermatology_ranks_the_patient_camera_first_with_an_alerting_floor() {
        let p = builtin::dermatology();
        let patient = camera(PublisherRole::Patient);
        let clinician = camera(PublisherRole::Clinician);
        assert!(SpecialtyHook::rank(&p, &patient) < SpecialtyHook::rank(&p, &clinician));
        assert_eq!(p.candidate_order(&patient), CandidateOrder::SpatialFirst);
        let f = SpecialtyHook::floor(&p, &patient).unwrap();
        assert_eq!((f.min_width, f.min_height, f.alert), (640, 360, true));
        let mic = TrackMeta {
            source: Core::Microphone,
            role: PublisherRole::Patient,
            audio: true,
        };
        assert_eq!(SpecialtyHook::rank(&p, &mic), 0);
    }

    #[test]
    fn behavioural_and_telestroke_climb_frame_rate_first() {
        let b = builtin::behavioural_health();
        let t = builtin::telestroke();
        let patient = camera(PublisherRole::Patient);
        assert_eq!(b.candidate_order(&patient), CandidateOrder::TemporalFirst);
        assert_eq!(t.candidate_order(&patient), CandidateOrder::TemporalFirst);
        assert!(SpecialtyHook::floor(&b, &patient).unwrap().min_fps >= 25);
        assert!(SpecialtyHook::floor(&t, &patient).unwrap().alert);
    }
}
