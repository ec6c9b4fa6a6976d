"""Offline teacher models (MTCNN faces, SSDLite-MobileNetV2 people, dlib face embeddings) that the
unified network is distilled from."""
