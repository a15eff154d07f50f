using Granary.Transactions;

namespace Granary.Tests.Unit.Transactions;

public sealed class ParticipantOutcomeCodecTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 26, 10, 17, 45, 942, TimeSpan.Zero);

    [Theory]
    [InlineData("tx-47e19c25dcf0429da18dcd040be0bf38", "debit 1", ParticipantStatus.Committed)]
    [InlineData("tx-1", "", ParticipantStatus.Aborted)]
    [InlineData("odd:id:12:with colons", "take 3 x:y:7", ParticipantStatus.Aborted)]
    [InlineData("ünïcode id", "credit 999999999999999", ParticipantStatus.Committed)]
    public void A_finished_entry_round_trips(string id, string fingerprint, ParticipantStatus status)
    {
        var entry = new ParticipantEntry(id, fingerprint, status, At, null);

        var decoded = ParticipantOutcomeCodec.Decode(ParticipantOutcomeCodec.Encode(entry));

        Assert.Equal(entry, decoded);
    }

    [Fact]
    public void The_encoding_is_a_fraction_of_a_json_record()
    {
        var text = ParticipantOutcomeCodec.Encode(new ParticipantEntry("tx-47e19c25dcf0429da18dcd040be0bf38", "debit 1", ParticipantStatus.Committed, At, null));

        // The same entry as a ParticipantRecord in the grain-state JSON took about 210 characters.
        Assert.Equal("C1795688265942:7:debit 1tx-47e19c25dcf0429da18dcd040be0bf38", text);
    }

    [Theory]
    [InlineData(ParticipantStatus.Prepared)]
    [InlineData(ParticipantStatus.PreCommitted)]
    public void Open_entries_are_not_encoded(ParticipantStatus status) =>
        Assert.Throws<ArgumentException>(() => ParticipantOutcomeCodec.Encode(new ParticipantEntry("t", "fp", status, At, null)));

    [Theory]
    [InlineData("")]
    [InlineData("X1:0:t")]
    [InlineData("C1:5:ab")]
    [InlineData("C:0:t")]
    [InlineData("Cabc:0:t")]
    [InlineData("C1:0:")]
    [InlineData("C1;0;t")]
    public void Garbage_is_refused(string text) =>
        Assert.Throws<FormatException>(() => ParticipantOutcomeCodec.Decode(text));

    [Fact]
    public void A_ledger_restored_from_encoded_outcomes_still_refuses_late_messages()
    {
        var ledger = new ParticipantLedger([
            ParticipantOutcomeCodec.Decode(ParticipantOutcomeCodec.Encode(new ParticipantEntry("c", "debit 1", ParticipantStatus.Committed, At, null))),
            ParticipantOutcomeCodec.Decode(ParticipantOutcomeCodec.Encode(new ParticipantEntry("a", string.Empty, ParticipantStatus.Aborted, At, null))),
        ]);

        Assert.Equal(PrepareVerdict.AlreadyCommitted, ledger.CheckPrepare("c", "debit 1"));
        Assert.Equal(PrepareVerdict.Conflict, ledger.CheckPrepare("c", "debit 2"));
        Assert.Equal(AbortVerdict.RefusedCommitted, ledger.Abort("c", At));
        Assert.Equal(PrepareVerdict.AlreadyAborted, ledger.CheckPrepare("a", "credit 1"));
        Assert.Equal(CommitVerdict.RefusedAborted, ledger.Commit("a", At));
    }

    [Fact]
    public void Stored_texts_are_the_codecs_in_ledger_order_and_each_entry_is_encoded_once()
    {
        var texts = new ParticipantOutcomeTexts();
        var committed = new ParticipantEntry("tx-a", "debit 1", ParticipantStatus.Committed, At, null);
        var open = new ParticipantEntry("tx-b", "credit 1", ParticipantStatus.Prepared, At, null);
        var aborted = new ParticipantEntry("tx-c", "debit 2", ParticipantStatus.Aborted, At.AddSeconds(1), null);

        var first = texts.Encode([committed, open, aborted]);
        Assert.Equal([ParticipantOutcomeCodec.Encode(committed), ParticipantOutcomeCodec.Encode(aborted)], first);

        // The same entry objects give the same string objects (not encoded again); a replaced entry
        // (its status changed) is encoded anew; entries gone are forgotten.
        var committedB = open with { Status = ParticipantStatus.Committed, Since = At.AddSeconds(2) };
        var second = texts.Encode([committed, committedB]);
        Assert.Same(first[0], second[0]);
        Assert.Equal(ParticipantOutcomeCodec.Encode(committedB), second[1]);
        var third = texts.Encode([committedB]);
        Assert.Same(second[1], Assert.Single(third));
        Assert.Empty(texts.Encode([open]));
        Assert.NotSame(first[0], Assert.Single(texts.Encode([committed])));
    }
}
