"""What customers read in their language: template rendering in a sandbox (render, sandbox),
and (to come) language detection and localised dates."""
