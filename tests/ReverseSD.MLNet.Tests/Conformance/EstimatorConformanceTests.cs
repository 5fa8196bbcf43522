using Microsoft.ML;
using Microsoft.ML.Data;

namespace ReverseSD.MLNet.Tests.Conformance;

/// <summary>
/// The contract every estimator of the library keeps (as ML.NET's TestEstimatorCore checks its own): the output schema
/// promised by GetOutputSchema is the one the fitted transformer produces; a missing or wrongly typed input column fails
/// in both GetOutputSchema and Fit with a <see cref="ReverseSdInputException"/> naming the column; a saved model loads back
/// and scores the same; Dispose can be called twice; and the catalog's arguments reach the estimator.
/// </summary>
public sealed class EstimatorConformanceTests
{
    public static TheoryData<string> Estimators => [.. EstimatorCase.All.Keys];

    [Theory]
    [MemberData(nameof(Estimators))]
    public void OutputSchemaPromisedByGetOutputSchemaIsTheFittedTransformersSchema(string name)
    {
        var c = EstimatorCase.All[name];
        using var dir = new TempDirectory();
        var ml = new MLContext(1);
        var data = c.Data(ml, dir);
        var estimator = c.Build(ml, data, dir);

        var shape = estimator.GetOutputSchema(SchemaShapes.Of(data.Schema));
        var transformer = estimator.Fit(data);
        try
        {
            var schema = transformer.GetOutputSchema(data.Schema);
            var scored = transformer.Transform(data);
            foreach (string output in c.Outputs)
            {
                var promised = Assert.Single(shape, s => s.Name == output);
                var actual = scored.Schema.GetColumnOrNull(output);
                Assert.True(actual.HasValue, $"{name}: the scored data has no output column '{output}'.");
                Assert.Equal(schema[output].Type, actual.Value.Type);
                var itemType = actual.Value.Type is VectorDataViewType v ? v.ItemType : actual.Value.Type;
                Assert.Equal(promised.ItemType, itemType);
                Assert.Equal(promised.Kind == SchemaShape.Column.VectorKind.Scalar, actual.Value.Type is not VectorDataViewType);
                Assert.Equal(RowCount(data), Values(scored, output).Count);
            }
            foreach (var column in data.Schema.Where(col => !col.IsHidden))
                Assert.Contains(shape, s => s.Name == column.Name);
        }
        finally
        {
            (transformer as IDisposable)?.Dispose();
        }
    }

    [Theory]
    [MemberData(nameof(Estimators))]
    public void MissingInputColumnFailsInGetOutputSchemaAndFitNamingTheColumn(string name)
    {
        var c = EstimatorCase.All[name];
        using var dir = new TempDirectory();
        var ml = new MLContext(1);
        var data = c.Data(ml, dir);
        var estimator = c.Build(ml, data, dir);
        foreach (var (column, _) in c.Inputs)
        {
            var without = ml.Transforms.DropColumns(column).Fit(data).Transform(data);
            AssertRejects(estimator, without, column);
        }
    }

    [Theory]
    [MemberData(nameof(Estimators))]
    public void WronglyTypedInputColumnFailsInGetOutputSchemaAndFitNamingTheColumn(string name)
    {
        var c = EstimatorCase.All[name];
        using var dir = new TempDirectory();
        var ml = new MLContext(1);
        var data = c.Data(ml, dir);
        var estimator = c.Build(ml, data, dir);
        foreach (var (column, isText) in c.Inputs)
        {
            // Text becomes a float scalar; a float vector becomes a double vector.
            var wrong = ml.Transforms.Conversion.ConvertType(column, column, isText ? DataKind.Single : DataKind.Double).Fit(data).Transform(data);
            AssertRejects(estimator, wrong, column);
        }
    }

    [Theory]
    [MemberData(nameof(Estimators))]
    public void SavedModelLoadsBackAndScoresTheSame(string name)
    {
        var c = EstimatorCase.All[name];
        using var dir = new TempDirectory();
        var ml = new MLContext(1);
        var data = c.Data(ml, dir);
        var transformer = c.Build(ml, data, dir).Fit(data);
        try
        {
            string zip = dir.File("model.zip");
            if (!c.Saves)
            {
                // Training-only stages (targets computed from text) say so instead of writing a model that cannot score images.
                Assert.Throws<NotSupportedException>(() => ml.Model.Save(transformer, data.Schema, zip));
                return;
            }
            ml.Model.Save(transformer, data.Schema, zip);
            var loaded = ml.Model.Load(zip, out var inputSchema);
            try
            {
                Assert.Equal(data.Schema.Count(col => !col.IsHidden), inputSchema.Count(col => !col.IsHidden));
                var before = transformer.Transform(data);
                var after = loaded.Transform(data);
                foreach (string output in c.Outputs)
                {
                    var expected = Values(before, output);
                    var actual = Values(after, output);
                    Assert.Equal(expected.Count, actual.Count);
                    for (int i = 0; i < expected.Count; i++)
                        AssertClose(expected[i], actual[i], $"{name}: column '{output}', row {i}");
                }
            }
            finally
            {
                (loaded as IDisposable)?.Dispose();
            }
        }
        finally
        {
            (transformer as IDisposable)?.Dispose();
        }
    }

    [Theory]
    [MemberData(nameof(Estimators))]
    public void DisposingAFittedTransformerTwiceIsSafe(string name)
    {
        var c = EstimatorCase.All[name];
        using var dir = new TempDirectory();
        var ml = new MLContext(1);
        var data = c.Data(ml, dir);
        var transformer = c.Build(ml, data, dir).Fit(data);
        if (transformer is not IDisposable disposable)
            return;   // nothing native to release (e.g. the vocabulary labels)
        disposable.Dispose();
        disposable.Dispose();
    }

    [Theory]
    [MemberData(nameof(Estimators))]
    public void CatalogArgumentsReachTheEstimator(string name)
    {
        using var dir = new TempDirectory();
        EstimatorCase.All[name].CheckCatalogArguments(new MLContext(1), dir);
    }

    private static void AssertRejects(IEstimator<ITransformer> estimator, IDataView data, string column)
    {
        var atSchema = Assert.Throws<ReverseSdInputException>(() => estimator.GetOutputSchema(SchemaShapes.Of(data.Schema)));
        Assert.Contains($"'{column}'", atSchema.Message);
        var atFit = Assert.Throws<ReverseSdInputException>(() => (estimator.Fit(data) as IDisposable)?.Dispose());
        Assert.Contains($"'{column}'", atFit.Message);
    }

    private static long RowCount(IDataView data)
    {
        long rows = 0;
        using var cursor = data.GetRowCursor([]);
        while (cursor.MoveNext()) rows++;
        return rows;
    }

    /// <summary>Every row's value of a float or text column (scalar or vector), as float[] or string[].</summary>
    private static List<object> Values(IDataView data, string name)
    {
        var column = data.Schema[name];
        var item = column.Type is VectorDataViewType v ? v.ItemType : column.Type;
        var values = new List<object>();
        using var cursor = data.GetRowCursor([column]);
        if (item is TextDataViewType)
        {
            if (column.Type is VectorDataViewType)
            {
                var getter = cursor.GetGetter<VBuffer<ReadOnlyMemory<char>>>(column);
                VBuffer<ReadOnlyMemory<char>> buffer = default;
                while (cursor.MoveNext()) { getter(ref buffer); values.Add(buffer.DenseValues().Select(t => t.ToString()).ToArray()); }
            }
            else
            {
                var getter = cursor.GetGetter<ReadOnlyMemory<char>>(column);
                ReadOnlyMemory<char> text = default;
                while (cursor.MoveNext()) { getter(ref text); values.Add(new[] { text.ToString() }); }
            }
        }
        else
        {
            var getter = cursor.GetGetter<VBuffer<float>>(column);
            VBuffer<float> buffer = default;
            while (cursor.MoveNext()) { getter(ref buffer); values.Add(buffer.DenseValues().ToArray()); }
        }
        return values;
    }

    private static void AssertClose(object expected, object actual, string where)
    {
        if (expected is string[] texts)
        {
            Assert.Equal(texts, (string[])actual);
            return;
        }
        var a = (float[])expected;
        var b = (float[])actual;
        Assert.Equal(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++)
            Assert.True(Math.Abs(a[i] - b[i]) <= 1e-6f, $"{where}, slot {i}: {a[i]} vs {b[i]}");
    }
}
