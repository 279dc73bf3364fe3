"""The consortium contract and the code both sides need to speak it.

Modules: ``v1`` (generated protobuf and gRPC code), ``envelope`` (signed envelopes),
``pki`` (the consortium CA and credentials bundles), ``tls`` (mutual-TLS gRPC wiring
and peer identity), ``money`` (currencies and the one decimal converter), ``limits``
(bounds on everything that comes from outside), ``results`` (result-code helpers).
"""
