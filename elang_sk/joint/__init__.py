"""What users fit: the joint estimators on one core (BaseJoint)."""
