//! SDP offer parsing and answer building (in progress).
