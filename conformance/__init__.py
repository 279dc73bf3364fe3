"""The conformance kit, `fedmall-conformance`: tests an implementation of the contract over the wire.

It depends on the contract package (fedmall) only, never on node or clearing: it speaks to a
member bank's node or to a clearing as a foreign bank's software would, with the credentials
of a test bundle (conformance.credentials), and reports every case as pass or fail with why.

    conformance.cases            a case, its verdict, the run and the report (table or JSON)
    conformance.credentials      the bundle: reading its parties, making a member's test bundle
    conformance.waiting          bounded waits for what arrives asynchronously
    conformance.clearing_wire    every ClearingService and ClearingAdminService call the kit makes,
                                 and each test bank's delivery stream
    conformance.clearing_cases   the cases run against a clearing (the kit plays member banks
                                 and the operator)
    conformance.clearing_double  the ClearingService the kit serves to a member's node (it plays
                                 the clearing), every RPC in one place
    conformance.member_wire      the PeerService call the kit makes (it plays the payer bank)
    conformance.member_cases     the cases run against a member's node
    conformance.cli              the command line

docs/conformance.md says what each case checks and how to run it.
"""
