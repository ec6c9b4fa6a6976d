"""Offline teacher models (MTCNN, OpenCV HOG, dlib) that the unified network is distilled from."""
