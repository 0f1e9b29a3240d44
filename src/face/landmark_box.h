/* face/landmark_box: the square box, in dlib's HOG-detector convention, that 68 landmarks
 * imply (fitted on dlib's boxes and landmarks; constants in landmark_box.c).  The tracker
 * re-boxes a face from its last landmarks with it; models/ crops with it. */
#ifndef VV_FACE_LANDMARK_BOX_H
#define VV_FACE_LANDMARK_BOX_H

/* box: x0, y0, x1, y1 in the landmarks' pixels. */
void landmarks_box(const float points[68][2], float box[4]);

#endif
