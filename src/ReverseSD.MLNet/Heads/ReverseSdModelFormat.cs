using Microsoft.ML;
using Microsoft.ML.Data;

namespace ReverseSD.MLNet.Heads;

/// <summary>The format of the models this library saves; a model zip of another version is refused with both versions named.</summary>
public static class ReverseSdModelFormat
{
    /// <summary>The current model format version, stored in the heads graph's metadata and its "ModelInfo" output.</summary>
    public const string Version = "reversesd-model/1";

    /// <summary>Name of the one-string output column that carries <see cref="Version"/>.</summary>
    public const string InfoColumnName = ColumnNames.ModelInfo;

    /// <summary>Name of the output column that carries the vocabulary words (same order as "VocabularyProbabilities").</summary>
    public const string VocabularyWordsColumnName = ColumnNames.VocabularyWords;

    /// <summary>Name of the output column that carries each word's training frequency (models trained before it lack it).</summary>
    public const string VocabularyFrequenciesColumnName = ColumnNames.VocabularyFrequencies;

    /// <summary>The column a saved model reads: the image file path.</summary>
    public const string ImagePathColumnName = ColumnNames.ImagePath;

    /// <summary>The input schema of a saved model: one "ImagePath" text column.</summary>
    internal static DataViewSchema ImageInputSchema(MLContext mlContext) =>
        mlContext.Data.LoadFromEnumerable(Array.Empty<ImageInput>()).Schema;

    /// <summary>
    /// The format version a fitted chain declares, or a parenthesised reason it is no ReverseSD model. The heads graph is the
    /// chain's last stage (in an ensemble model the first member's heads sit before the ensemble stages): the last stage that
    /// reads the backbone's "ImageFeatures" runs on one all-zero row and its constant "ModelInfo" is read.
    /// </summary>
    internal static string ReadVersion(MLContext ml, ITransformer model)
    {
        var stages = Stages(model).ToList();
        if (stages.Count == 0) return "(empty model)";
        string? lastStageProblem = null;
        for (int i = stages.Count - 1; i >= 0; i--)
        {
            string? version = VersionOfStage(ml, stages, i, out string? problem);
            if (version != null) return version;
            lastStageProblem ??= problem;
        }
        return lastStageProblem!;
    }

    /// <summary>The chain's stages in order, nested chains flattened (appending to an estimator typed as an interface nests them).</summary>
    private static IEnumerable<ITransformer> Stages(ITransformer model) =>
        model is IEnumerable<ITransformer> chain ? chain.SelectMany(Stages) : [model];

    /// <summary>The values of a text-vector column, one array per row.</summary>
    internal static List<string[]> ReadTextVectors(IDataView data, string column)
    {
        using var cursor = data.GetRowCursor([data.Schema[column]]);
        var getter = cursor.GetGetter<VBuffer<ReadOnlyMemory<char>>>(data.Schema[column]);
        VBuffer<ReadOnlyMemory<char>> buffer = default;
        var result = new List<string[]>();
        while (cursor.MoveNext())
        {
            getter(ref buffer);
            result.Add(buffer.DenseValues().Select(v => v.ToString()).ToArray());
        }
        return result;
    }

    private static string? VersionOfStage(MLContext ml, List<ITransformer> stages, int index, out string? problem)
    {
        problem = null;
        var stage = stages[index];
        var prefix = new TransformerChain<ITransformer>(stages.Take(index).ToArray());
        DataViewSchema features;
        try
        {
            features = prefix.GetOutputSchema(ImageInputSchema(ml));
        }
        catch (Exception ex) when (ex is ArgumentOutOfRangeException or InvalidOperationException)
        {
            problem = "(not a ReverseSD model: it does not read an 'ImagePath' column)";
            return null;
        }
        var column = features.GetColumnOrNull(ColumnNames.ImageFeatures);
        if (column is not { Type: VectorDataViewType { Size: > 0 } vector })
        {
            problem = "(not a ReverseSD model: no 'ImageFeatures' stage)";
            return null;
        }
        var definition = SchemaDefinition.Create(typeof(FeatureRow));
        definition[nameof(FeatureRow.ImageFeatures)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, vector.Size);
        var dummy = ml.Data.LoadFromEnumerable([new FeatureRow { ImageFeatures = new float[vector.Size] }], definition);
        try
        {
            var scored = stage.Transform(dummy);
            if (scored.Schema.GetColumnOrNull(InfoColumnName) == null)
            {
                problem = "(unversioned: no 'ModelInfo' output)";
                return null;
            }
            return ReadTextVectors(scored, InfoColumnName).FirstOrDefault()?.FirstOrDefault() ?? "(empty ModelInfo)";
        }
        catch (Exception ex) when (ex is ArgumentOutOfRangeException or InvalidOperationException or ArgumentException or ReverseSdInputException)
        {
            problem = "(not a ReverseSD model: its last stage does not read 'ImageFeatures')";
            return null;
        }
    }

    private sealed class ImageInput
    {
        public string ImagePath { get; set; } = "";
    }

    private sealed class FeatureRow
    {
        public float[] ImageFeatures { get; set; } = [];
    }
}
