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
    [InlineData("tx-47E19C25DCF0429DA18DCD040BE0BF38", "debit 1", ParticipantStatus.Committed)]
    [InlineData("tx-47e19c25dcf0429da18dcd040be0bf3", "debit 1", ParticipantStatus.Committed)]
    [InlineData("tx-47e19c25dcf0429da18dcd040be0bf38a", "debit 1", ParticipantStatus.Aborted)]
    [InlineData("tx-47e19c25dcf0429da18dcd040be0bf3g", "debit 1", ParticipantStatus.Aborted)]
    [InlineData("~ujhPJdzwQp2hjc0EC-C_OA", "debit 1", ParticipantStatus.Committed)]
    [InlineData("=x", "3pc take 2 a:b", ParticipantStatus.Aborted)]
    [InlineData("", "", ParticipantStatus.Committed)]
    public void A_finished_entry_round_trips(string id, string fingerprint, ParticipantStatus status)
    {
        var entry = new ParticipantEntry(id, fingerprint, status, At, null);

        var decoded = ParticipantOutcomeCodec.Decode(ParticipantOutcomeCodec.Encode(entry));

        Assert.Equal(entry, decoded);
    }

    [Fact]
    public void A_transfer_outcome_takes_41_characters_with_its_time_and_sdk_id_packed()
    {
        var text = ParticipantOutcomeCodec.Encode(new ParticipantEntry("tx-47e19c25dcf0429da18dcd040be0bf38", "debit 1", ParticipantStatus.Committed, At, null));

        // The first text form took 61 characters, the same entry as a JSON object about 210.
        Assert.Equal("cAaIXXHjW7:debit 1~R-GcJdzwQp2hjc0EC-C_OA", text);
        Assert.Equal(41, text.Length);
    }

    [Theory]
    [InlineData("C1795688265942:7:debit 1tx-47e19c25dcf0429da18dcd040be0bf38", "tx-47e19c25dcf0429da18dcd040be0bf38", "debit 1", ParticipantStatus.Committed)]
    [InlineData("A1795688265942:0:odd:id", "odd:id", "", ParticipantStatus.Aborted)]
    public void Texts_of_the_first_form_still_decode(string text, string id, string fingerprint, ParticipantStatus status) =>
        Assert.Equal(new ParticipantEntry(id, fingerprint, status, At, null), ParticipantOutcomeCodec.Decode(text));

    [Fact]
    public void A_time_before_1970_is_written_in_the_first_form_and_round_trips()
    {
        var entry = new ParticipantEntry("tx-1", "debit 1", ParticipantStatus.Committed, new DateTimeOffset(1969, 12, 31, 23, 59, 59, TimeSpan.Zero), null);

        var text = ParticipantOutcomeCodec.Encode(entry);

        Assert.StartsWith("C-1000:", text, StringComparison.Ordinal);
        Assert.Equal(entry, ParticipantOutcomeCodec.Decode(text));
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
    [InlineData("C99999999999999999:0:t")]
    [InlineData("c")]
    [InlineData("cAaIXXHjW")]
    [InlineData("cAaIXXHjW7")]
    [InlineData("cAaIXXHjW7:")]
    [InlineData("cAaIXXHjW7:debit 1")]
    [InlineData("cAaIXXHjW7:debit 1x")]
    [InlineData("cAaIXXHjW7:debit 1~short")]
    [InlineData("cAaIXXHjW7:debit 1~R-GcJdzwQp2hjc0EC-C_O!")]
    [InlineData("cAaI*XHjW7:debit 1=x")]
    [InlineData("c//////////7:debit 1=x")]
    [InlineData("c________7:debit 1=x")]
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
    public void The_block_holds_each_finished_entrys_text_in_ledger_order_and_forgets_entries_gone()
    {
        var texts = new ParticipantOutcomeTexts();
        var committed = new ParticipantEntry("tx-a", "debit 1", ParticipantStatus.Committed, At, null);
        var open = new ParticipantEntry("tx-b", "credit 1", ParticipantStatus.Prepared, At, null);
        var aborted = new ParticipantEntry("line\nbreak ünïcode", "debit 2\n", ParticipantStatus.Aborted, At.AddSeconds(1), null);

        var first = texts.EncodeBlock([committed, open, aborted]);
        Assert.Equal([.. Utf8(committed), 0xFF, .. Utf8(aborted), 0xFF], first);
        Assert.Equal([committed, aborted], ParticipantOutcomeCodec.DecodeBlock(first));

        // A replaced entry (its status changed) is encoded anew; entries gone are forgotten; none at all: no block.
        var committedB = open with { Status = ParticipantStatus.Committed, Since = At.AddSeconds(2) };
        Assert.Equal([committed, committedB], ParticipantOutcomeCodec.DecodeBlock(texts.EncodeBlock([committed, committedB])));
        Assert.Equal([committedB], ParticipantOutcomeCodec.DecodeBlock(texts.EncodeBlock([committedB])));
        Assert.Null(texts.EncodeBlock([open]));
        Assert.Empty(ParticipantOutcomeCodec.DecodeBlock(null));
        Assert.Empty(ParticipantOutcomeCodec.DecodeBlock([]));
    }

    [Fact]
    public void A_call_that_failed_part_way_leaves_nothing_in_the_next_block()
    {
        var texts = new ParticipantOutcomeTexts();
        var committed = new ParticipantEntry("tx-a", "debit 1", ParticipantStatus.Committed, At, null);
        var aborted = new ParticipantEntry("tx-c", "debit 2", ParticipantStatus.Aborted, At, null);
        IEnumerable<ParticipantEntry> Failing()
        {
            yield return committed;
            throw new InvalidOperationException("the ledger failed");
        }

        Assert.Throws<InvalidOperationException>(() => texts.EncodeBlock(Failing()));

        Assert.Equal([aborted], ParticipantOutcomeCodec.DecodeBlock(texts.EncodeBlock([aborted])));
    }

    [Fact]
    public void A_block_of_fifty_transfer_outcomes_takes_42_bytes_each()
    {
        var entries = Enumerable.Range(0, 50).Select(i => new ParticipantEntry(TransactionIds.New(), "debit 1", ParticipantStatus.Committed, At.AddMilliseconds(i), null)).ToList();

        var block = new ParticipantOutcomeTexts().EncodeBlock(entries);

        Assert.Equal(50 * 42, block!.Length);
        Assert.Equal(entries, ParticipantOutcomeCodec.DecodeBlock(block));
    }

    [Fact]
    public void A_cut_or_damaged_block_is_refused()
    {
        var block = new ParticipantOutcomeTexts().EncodeBlock([new ParticipantEntry("tx-a", "debit 1", ParticipantStatus.Committed, At, null)])!;

        Assert.Throws<FormatException>(() => ParticipantOutcomeCodec.DecodeBlock(block[..^1]));
        Assert.Throws<FormatException>(() => ParticipantOutcomeCodec.DecodeBlock([.. block, .. "c"u8]));
        Assert.Throws<FormatException>(() => ParticipantOutcomeCodec.DecodeBlock([0xC3, 0x28, 0xFF]));
        Assert.Throws<FormatException>(() => ParticipantOutcomeCodec.DecodeBlock([.. "garbage"u8, 0xFF]));
        Assert.Throws<FormatException>(() => ParticipantOutcomeCodec.DecodeBlock([0xFF]));
    }

    private static byte[] Utf8(ParticipantEntry entry) => System.Text.Encoding.UTF8.GetBytes(ParticipantOutcomeCodec.Encode(entry));
}
