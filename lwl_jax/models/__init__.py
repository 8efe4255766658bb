"""The LWL network, one module per paper symbol.

F  backbone.py         ResNet-50 feature extractor
   target_features.py  projection of layer3 to the target-model features x
E,W label_encoder.py   few-shot label generator E(y) and importance weights W(y)
T,A learner.py         target model T_τ and the steepest-descent few-shot learner A
D  decoder.py          segmentation decoder
B  box_encoder.py      box encoder (start a track from a box)
   lwl.py              the assembled network and its training forward
"""
