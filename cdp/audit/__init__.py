"""The access audit log: who saw or changed whose data, when and why; tamper-evident."""
