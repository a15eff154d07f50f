using Granary.Transactions;

namespace Granary.Tests.Unit.Transactions;

public sealed class ParticipantProtocolTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly Dictionary<string, Take> _reservations = new(StringComparer.Ordinal);
    private readonly Stock _stock = new() { Units = 10 };

    private ParticipantProtocol<Take> Protocol() => new(new ParticipantLedger(), _reservations, _stock);

    [Fact]
    public void Prepare_reserves_once_and_a_duplicate_votes_yes_after_the_first_write_without_reserving_again()
    {
        var p = Protocol();
        var first = p.Prepare("tx", "take 4", new Take(4), Now, null, null);
        Assert.Equal(new PrepareStep(PrepareResult.Granted, ParticipantWrite.Persist), first);
        var again = p.Prepare("tx", "take 4", new Take(4), Now, null, null);
        Assert.Equal(PrepareResult.Granted, again.Result);
        Assert.Equal(ParticipantWrite.Durable, again.Write);
        Assert.Equal(ParticipantStatus.Prepared, again.Known);
        Assert.Single(_reservations);
    }

    [Fact]
    public void Commit_applies_the_reservation_exactly_once()
    {
        var p = Protocol();
        p.Prepare("tx", "take 4", new Take(4), Now, null, null);
        Assert.Equal(new ParticipantStep(ParticipantWrite.PersistOutcome), p.Commit("tx", Now));
        Assert.Equal(new ParticipantStep(ParticipantWrite.None), p.Commit("tx", Now));
        Assert.Equal(6, _stock.Units);
        Assert.Empty(_reservations);
        Assert.Equal(["tx committed"], _stock.Resolved);
        Assert.NotNull(p.Abort("tx", Now).Refusal);
    }

    [Fact]
    public void A_prepare_after_its_deadline_is_refused_and_reserves_nothing_but_three_phase_has_no_deadline()
    {
        var p = Protocol();
        var late = p.Prepare("tx", "take 1", new Take(1), Now, Now - TimeSpan.FromTicks(1), null);
        Assert.Equal(PrepareResult.Late, late.Result);
        Assert.Equal(ParticipantWrite.None, late.Write);
        Assert.Empty(_reservations);
        Assert.Null(p.Ledger.Find("tx"));

        Assert.Equal(PrepareResult.Granted, p.Prepare("tx-3", "take 1", new Take(1), Now, Now - TimeSpan.FromTicks(1), TimeSpan.FromSeconds(3)).Result);
    }

    [Fact]
    public void A_refusal_is_remembered_so_a_later_commit_is_refused_and_a_retry_votes_no()
    {
        var p = Protocol();
        var refused = p.Prepare("tx", "take 11", new Take(11), Now, null, null);
        Assert.Equal(PrepareResult.Refused, refused.Result);
        Assert.Equal(ParticipantWrite.Persist, refused.Write);
        Assert.Equal("INSUFFICIENT", refused.Check!.Code);
        Assert.NotNull(p.Commit("tx", Now).Refusal);
        Assert.Equal(PrepareResult.AlreadyAborted, p.Prepare("tx", "take 11", new Take(11), Now, null, null).Result);
    }

    [Fact]
    public void Missing_resource_stores_nothing_even_for_an_abort_before_prepare()
    {
        _stock.Exists = false;
        var p = Protocol();
        Assert.Equal(PrepareResult.Missing, p.Prepare("tx", "take 1", new Take(1), Now, null, null).Result);
        Assert.Equal(new ParticipantStep(ParticipantWrite.None), p.Abort("tx-2", Now));
        Assert.Empty(p.Ledger.Entries);
    }

    [Fact]
    public void An_abort_before_prepare_is_remembered_and_bars_the_late_prepare()
    {
        var p = Protocol();
        Assert.Equal(new ParticipantStep(ParticipantWrite.Persist), p.Abort("tx", Now));
        var late = p.Prepare("tx", "take 1", new Take(1), Now, null, null);
        Assert.Equal(PrepareResult.AlreadyAborted, late.Result);
        Assert.Empty(_reservations);
    }

    [Fact]
    public void The_same_id_with_other_content_or_under_the_other_protocol_is_a_conflict()
    {
        var p = Protocol();
        p.Prepare("tx", "take 1", new Take(1), Now, null, null);
        Assert.Equal(PrepareResult.Conflict, p.Prepare("tx", "take 2", new Take(2), Now, null, null).Result);
        Assert.Equal(PrepareResult.Conflict, p.Prepare("tx", "take 1", new Take(1), Now, null, TimeSpan.FromSeconds(3)).Result);
        Assert.Single(_reservations);
    }

    [Fact]
    public void Inquiry_answers_resolve_presumed_abort_releases_and_pending_only_notes_the_inquiry()
    {
        var p = Protocol();
        p.Prepare("a", "take 1", new Take(1), Now, null, null);
        p.Prepare("b", "take 2", new Take(2), Now, null, null);
        Assert.Null(p.Resolve("a", InquiryAnswer.Pending, Now + TimeSpan.FromSeconds(1)));
        Assert.Equal(Now + TimeSpan.FromSeconds(1), p.Ledger.Find("a")!.LastInquiry);
        Assert.Equal(ParticipantWrite.PersistOutcome, p.Resolve("a", InquiryAnswer.Unknown, Now)!.Write);
        Assert.Equal(ParticipantWrite.PersistOutcome, p.Resolve("b", InquiryAnswer.Committed, Now)!.Write);
        Assert.Equal(8, _stock.Units);
        Assert.Equal(["a aborted", "b committed"], _stock.Resolved);
    }

    [Fact]
    public void Pre_commit_is_for_three_phase_entries_only()
    {
        var p = Protocol();
        p.Prepare("two", "take 1", new Take(1), Now, null, null);
        p.Prepare("three", "take 1", new Take(1), Now, null, TimeSpan.FromSeconds(3));
        Assert.Contains("two-phase", p.PreCommit("two", Now).Refusal, StringComparison.Ordinal);
        Assert.Equal(new ParticipantStep(ParticipantWrite.Persist), p.PreCommit("three", Now));
        Assert.Equal(new ParticipantStep(ParticipantWrite.Durable), p.PreCommit("three", Now));
        Assert.True(ParticipantProtocol<Take>.IsThreePhase(p.Ledger.Find("three")!));
        Assert.Contains("never voted", p.PreCommit("unknown", Now).Refusal, StringComparison.Ordinal);
    }

    private sealed record Take(int Units);

    private sealed class Stock : IParticipantResource<Take>
    {
        public int Units { get; set; }

        public bool Exists { get; set; } = true;

        public List<string> Resolved { get; } = [];

        public string Describe => "stock";

        public string? Missing() => Exists ? null : "stock does not exist";

        public ReserveCheck CanReserve(Take operation) => operation.Units <= Units ? ReserveCheck.Granted : new ReserveCheck(false, "INSUFFICIENT", "not enough");

        public void Apply(Take operation) => Units -= operation.Units;

        public void OnResolved(string transactionId, ParticipantStatus status) => Resolved.Add(transactionId + " " + status.ToString().ToLowerInvariant());
    }
}
