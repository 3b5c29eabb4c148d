//! Report-level tests: one per finding kind, positive and negative, plus the contract negatives.
