# Sourced by the CLI tests (not a test itself).  model_present NAME: whether the model file
# is where vivify looks for it (base.c's models_find: $VIVIFY_MODELS, then the source
# tree's .cache/models), or, for NAME "dlib", the 68-point shape predictor.  A test skips
# only when a model is absent: a present but invalid one (exit 11) must fail it.
model_present() {
  if [ "$1" = dlib ]; then [ -s /usr/share/dlib/shape_predictor_68_face_landmarks.dat ]; return; fi
  { [ -n "${VIVIFY_MODELS:-}" ] && [ -s "$VIVIFY_MODELS/$1" ]; } \
    || [ -s "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.cache/models/$1" ]
}
