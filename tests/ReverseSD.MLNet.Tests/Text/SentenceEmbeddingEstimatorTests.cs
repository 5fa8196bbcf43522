using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Tests.Text;

public sealed class SentenceEmbeddingEstimatorTests(SentenceEncoderFixture fixture) : IClassFixture<SentenceEncoderFixture>
{
    private sealed class PromptRow
    {
        public string Prompt { get; set; } = "";
        public int Id { get; set; }
    }

    private sealed class EmbeddedRow
    {
        public string Prompt { get; set; } = "";
        public int Id { get; set; }
        [VectorType(384)] public float[] PromptEmbedding { get; set; } = [];
    }

    private sealed class NumberRow
    {
        public float Prompt { get; set; }
    }

    private static readonly string[] Prompts =
    [
        "a red cube on a blue floor",
        "portrait of a knight in shining armour, oil on canvas, by john singer sargent, highly detailed",
        "cat",
        "a misty forest at dawn, volumetric light, 4k",
        "a bowl of fruit",
        "steampunk airship over london, concept art, trending on artstation",
        "two green spheres",
    ];

    private static IDataView PromptData(MLContext ml, IEnumerable<string> prompts) =>
        ml.Data.LoadFromEnumerable(prompts.Select((p, i) => new PromptRow { Prompt = p, Id = i }).ToList());

    [Fact]
    public void EmbedSentencesAddsAUnitNormVectorColumnEqualToTheEncoderOutputInRowOrder()
    {
        var ml = new MLContext(seed: 1);
        var data = PromptData(ml, Prompts);
        using var transformer = ml.Transforms.Text.EmbedSentences(batchSize: 3).Fit(data);
        var transformed = transformer.Transform(data);

        var column = transformed.Schema["PromptEmbedding"];
        Assert.Equal(new VectorDataViewType(NumberDataViewType.Single, 384), column.Type);
        Assert.Equal(transformed.Schema, transformer.GetOutputSchema(data.Schema), new SchemaColumnComparer());

        var rows = ml.Data.CreateEnumerable<EmbeddedRow>(transformed, reuseRowObject: false).ToList();
        var expected = fixture.Encoder.Encode(Prompts);
        Assert.Equal(Prompts.Length, rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            Assert.Equal(i, rows[i].Id);
            Assert.Equal(Prompts[i], rows[i].Prompt);
            Assert.Equal(1.0, GoldenEmbeddings.Norm(rows[i].PromptEmbedding), 5);
            Assert.True(GoldenEmbeddings.Cosine(expected[i], rows[i].PromptEmbedding) > 0.99999, $"row {i}");
        }
    }

    [Fact]
    public void Int8WeightsOptionEmbedsWithTheInt8EncoderInsteadOfTheFloatOne()
    {
        var ml = new MLContext(seed: 1);
        var data = PromptData(ml, Prompts);
        using var transformer = ml.Transforms.Text.EmbedSentences(new SentenceEmbeddingEstimator.Options { Int8Weights = true }).Fit(data);

        var rows = ml.Data.CreateEnumerable<EmbeddedRow>(transformer.Transform(data), reuseRowObject: false).ToList();

        var expected = fixture.Encoder.Encode(Prompts);
        for (int i = 0; i < rows.Count; i++)
        {
            double cosine = GoldenEmbeddings.Cosine(expected[i], rows[i].PromptEmbedding);
            Assert.True(cosine is > 0.98 and < 0.99999, $"row {i}: cosine {cosine} to the float encoder");
        }
    }

    [Fact]
    public void AShuffledCursorStillPairsEachRowWithItsOwnEmbedding()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.Cache(PromptData(ml, Prompts)); // a cache shuffles when asked
        using var transformer = ml.Transforms.Text.EmbedSentences(batchSize: 2).Fit(data);
        var transformed = transformer.Transform(data);
        var expected = fixture.Encoder.Encode(Prompts);

        var ids = new List<int>();
        using (var cursor = transformed.GetRowCursor(transformed.Schema, new Random(7)))
        {
            var idGetter = cursor.GetGetter<int>(transformed.Schema["Id"]);
            var embeddingGetter = cursor.GetGetter<VBuffer<float>>(transformed.Schema["PromptEmbedding"]);
            int id = 0;
            VBuffer<float> embedding = default;
            while (cursor.MoveNext())
            {
                idGetter(ref id);
                embeddingGetter(ref embedding);
                ids.Add(id);
                Assert.True(GoldenEmbeddings.Cosine(expected[id], embedding.DenseValues().ToArray()) > 0.99999, $"row {id}");
            }
        }
        Assert.True(data.CanShuffle);
        Assert.NotEqual(Enumerable.Range(0, Prompts.Length), ids); // it really was shuffled
        Assert.Equal(Enumerable.Range(0, Prompts.Length), ids.Order());
    }

    [Fact]
    public void ASourceWhoseCursorsDisagreeOnOrderStillGivesEachRowItsOwnEmbedding()
    {
        var ml = new MLContext();
        var data = new EveryOtherCursorReversed(PromptData(ml, Prompts));
        using var transformer = ml.Transforms.Text.EmbedSentences(batchSize: 3).Fit(data);
        var rows = ml.Data.CreateEnumerable<EmbeddedRow>(transformer.Transform(data), reuseRowObject: false).ToList();
        var expected = fixture.Encoder.Encode(Prompts);
        Assert.Equal(Prompts.Length, rows.Count);
        foreach (var row in rows)
            Assert.True(GoldenEmbeddings.Cosine(expected[row.Id], row.PromptEmbedding) > 0.99999, $"row {row.Id}");
    }

    /// <summary>A source whose successive cursors visit the rows in opposite orders (row ids follow the rows).</summary>
    private sealed class EveryOtherCursorReversed(IDataView inner) : IDataView
    {
        private int _cursors;

        public bool CanShuffle => false;

        public DataViewSchema Schema => inner.Schema;

        public long? GetRowCount() => inner.GetRowCount();

        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
        {
            var cols = columnsNeeded.ToList();
            var rows = new List<(object[] Values, DataViewRowId Id)>();
            using (var cursor = inner.GetRowCursor(inner.Schema))
            {
                var id = cursor.GetIdGetter();
                var prompt = cursor.GetGetter<ReadOnlyMemory<char>>(inner.Schema["Prompt"]);
                var number = cursor.GetGetter<int>(inner.Schema["Id"]);
                while (cursor.MoveNext())
                {
                    DataViewRowId rowId = default; ReadOnlyMemory<char> p = default; int n = 0;
                    id(ref rowId); prompt(ref p); number(ref n);
                    rows.Add(([p, n], rowId));
                }
            }
            if (_cursors++ % 2 == 1) rows.Reverse();
            return new ListCursor(Schema, rows, cols);
        }

        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
            [GetRowCursor(columnsNeeded, rand)];

        private sealed class ListCursor(DataViewSchema schema, List<(object[] Values, DataViewRowId Id)> rows, List<DataViewSchema.Column> active) : DataViewRowCursor
        {
            private int _position = -1;

            public override DataViewSchema Schema => schema;

            public override long Position => _position;

            public override long Batch => 0;

            public override bool MoveNext() => ++_position < rows.Count;

            public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId value) => value = rows[_position].Id;

            public override bool IsColumnActive(DataViewSchema.Column column) => active.Any(c => c.Index == column.Index);

            public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) =>
                (ref TValue value) => value = (TValue)rows[_position].Values[column.Index];
        }
    }

    [Fact]
    public void InvalidOptionsAreRejectedWhenTheEstimatorIsBuilt()
    {
        var ml = new MLContext();
        Assert.Contains("BatchSize", Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.Text.EmbedSentences(batchSize: 0)).Message);
        Assert.Contains("InputColumnName", Assert.Throws<ArgumentException>(() => ml.Transforms.Text.EmbedSentences(inputColumnName: " ")).Message);
        Assert.Contains("GpuDeviceId", Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.Text.EmbedSentences(gpuDeviceId: -1)).Message);
    }

    [Fact]
    public void OutputSchemaShapeAddsTheVectorColumnAndRejectsAMissingOrNonTextInput()
    {
        var ml = new MLContext();
        var text = PromptData(ml, ["a cat"]);
        var shape = ml.Transforms.Text.EmbedSentences().GetOutputSchema(ShapeOf<PromptRow>(ml));
        var added = shape.Single(c => c.Name == "PromptEmbedding");
        Assert.Equal(SchemaShape.Column.VectorKind.Vector, added.Kind);
        Assert.Equal(NumberDataViewType.Single, added.ItemType);
        Assert.Contains(shape, c => c.Name == "Id");

        var missing = Assert.Throws<ReverseSdInputException>(() =>
            ml.Transforms.Text.EmbedSentences(inputColumnName: "Caption").GetOutputSchema(ShapeOf<PromptRow>(ml)));
        Assert.Contains("'Caption' not found", missing.Message);
        Assert.Contains("Prompt", missing.Message);
        Assert.Throws<ReverseSdInputException>(() => ml.Transforms.Text.EmbedSentences(inputColumnName: "Caption").Fit(text));

        var numbers = ml.Data.LoadFromEnumerable(new[] { new NumberRow { Prompt = 1 } });
        var wrongType = Assert.Throws<ReverseSdInputException>(() =>
            ml.Transforms.Text.EmbedSentences().GetOutputSchema(ShapeOf<NumberRow>(ml)));
        Assert.Contains("text", wrongType.Message);
        Assert.Throws<ReverseSdInputException>(() => ml.Transforms.Text.EmbedSentences().Fit(numbers));
    }

    [Fact]
    public void AnEmptyPromptInTheDataIsRejectedNamingItsRow()
    {
        var ml = new MLContext();
        var data = PromptData(ml, ["a cat", "a dog", " ", "a bird"]);
        using var transformer = ml.Transforms.Text.EmbedSentences().Fit(data);
        var ex = Assert.Throws<ReverseSdInputException>(() =>
            ml.Data.CreateEnumerable<EmbeddedRow>(transformer.Transform(data), reuseRowObject: false).ToList());
        Assert.Contains("Row 2", ex.Message);
    }

    [Fact]
    public void ReadingOnlyOtherColumnsEncodesNothing()
    {
        // An empty prompt fails only when its embedding is computed, so reading just "Id" proves no encoding ran.
        var ml = new MLContext();
        var data = PromptData(ml, ["a cat", " "]);
        using var transformer = ml.Transforms.Text.EmbedSentences().Fit(data);
        var ids = transformer.Transform(data).GetColumn<int>("Id").ToList();
        Assert.Equal([0, 1], ids);
    }

    [Fact]
    public void AnOutputNamedLikeTheInputReplacesTheTextColumn()
    {
        var ml = new MLContext();
        var data = PromptData(ml, Prompts);
        using var transformer = ml.Transforms.Text.EmbedSentences("Prompt", "Prompt").Fit(data);
        var transformed = transformer.Transform(data);
        Assert.Equal(new VectorDataViewType(NumberDataViewType.Single, 384), transformed.Schema["Prompt"].Type);
        var vectors = transformed.GetColumn<float[]>("Prompt").ToList();
        var expected = fixture.Encoder.Encode(Prompts);
        for (int i = 0; i < Prompts.Length; i++)
            Assert.True(GoldenEmbeddings.Cosine(expected[i], vectors[i]) > 0.99999, $"row {i}");
    }

    [Fact]
    public void SavingTheTransformerExplainsItIsNotPartOfTheImageModel()
    {
        var ml = new MLContext();
        var data = PromptData(ml, ["a cat"]);
        using var transformer = ml.Transforms.Text.EmbedSentences().Fit(data);
        using var stream = new MemoryStream();
        var ex = Assert.Throws<NotSupportedException>(() => ml.Model.Save(transformer, data.Schema, stream));
        Assert.Contains("not part of the image model", ex.Message);
        transformer.Dispose();
        transformer.Dispose();
    }

    private sealed class NoColumns;

    /// <summary>The SchemaShape of a row class (SchemaShape.Create is internal; ML.NET's CustomMapping derives it publicly).</summary>
    private static SchemaShape ShapeOf<TRow>(MLContext ml) where TRow : class, new() =>
        ml.Transforms.CustomMapping<NoColumns, TRow>((_, _) => { }, contractName: null).GetOutputSchema(new SchemaShape([]));

    private sealed class SchemaColumnComparer : IEqualityComparer<DataViewSchema>
    {
        public bool Equals(DataViewSchema? x, DataViewSchema? y) =>
            x!.Count == y!.Count && x.Zip(y).All(p => p.First.Name == p.Second.Name && p.First.Type.Equals(p.Second.Type) && p.First.IsHidden == p.Second.IsHidden);

        public int GetHashCode(DataViewSchema obj) => obj.Count;
    }
}
